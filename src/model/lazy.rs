//! A resource kept as its protobuf encoding and decoded on first use.
//!
//! A fully decoded Envoy resource takes several times its encoded size
//! (every string, map and repeated field its own allocation). The index
//! keeps each listener, cluster, route configuration and endpoint set as
//! bytes; a view that needs one decodes it once (`get`), while passes over
//! every resource decode each one for the moment (`peek`) and keep nothing.

use std::borrow::Cow;
use std::sync::OnceLock;

use prost::Message;

pub struct Lazy<T> {
    /// The encoding; empty for a message given already decoded.
    bytes: Box<[u8]>,
    /// Boxed: an Envoy message struct is kilobytes even when empty.
    cell: OnceLock<Box<T>>,
}

impl<T: Message + Default + Clone + PartialEq> Lazy<T> {
    /// Bytes that decode as `T` (the index checks that before keeping them).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            bytes: bytes.into_boxed_slice(),
            cell: OnceLock::new(),
        }
    }

    /// A message already decoded (e.g. a route configuration found inline
    /// in a listener).
    pub fn ready(msg: T) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(Box::new(msg));
        Self {
            bytes: Box::default(),
            cell,
        }
    }

    /// The message, decoded on first use and kept.
    pub fn get(&self) -> &T {
        self.cell.get_or_init(|| Box::new(self.decode()))
    }

    /// The message without keeping it: borrowed when already decoded, else
    /// decoded for the caller alone. For passes over every resource.
    pub fn peek(&self) -> Cow<'_, T> {
        match self.cell.get() {
            Some(m) => Cow::Borrowed(&**m),
            None => Cow::Owned(self.decode()),
        }
    }

    /// Same content: equal encodings, else equal decoded messages.
    pub fn same(&self, other: &Self) -> bool {
        if !self.bytes.is_empty() && self.bytes == other.bytes {
            return true;
        }
        *self.peek() == *other.peek()
    }

    /// The bytes kept (empty for a message given decoded).
    pub fn raw(&self) -> &[u8] {
        &self.bytes
    }

    /// The protobuf encoding (of the decoded message when given decoded).
    pub fn encoded(&self) -> Cow<'_, [u8]> {
        match self.cell.get() {
            Some(m) if self.bytes.is_empty() => Cow::Owned(m.encode_to_vec()),
            _ => Cow::Borrowed(&self.bytes[..]),
        }
    }

    fn decode(&self) -> T {
        // The index keeps only bytes that decoded; a failure here would be
        // a bug, and yields an empty message rather than a crash.
        T::decode(&self.bytes[..]).unwrap_or_default()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cell.get() {
            Some(m) => m.fmt(f),
            None => write!(f, "Lazy({} bytes)", self.bytes.len()),
        }
    }
}

/// Equal content (see `Lazy::same`).
impl<T: Message + Default + Clone + PartialEq> PartialEq for Lazy<T> {
    fn eq(&self, other: &Self) -> bool {
        self.same(other)
    }
}
