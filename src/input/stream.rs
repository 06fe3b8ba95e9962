//! A fleet of dumps, read one at a time per worker: the commands that look
//! at every proxy of a fleet (triage, export) hand each dump to a function
//! that keeps what it needs and drops the dump, so memory holds a few dumps
//! at a time, never the fleet.
//!
//! One thread walks the inputs (archives entry by entry, streamed from the
//! archive; plain files by name); `workers` threads decode and call the
//! function; the caller receives the results in input order, so the output
//! is the same whatever thread finished first. The walker stays at most
//! [`WINDOW`] jobs ahead of the caller, which bounds what is held.

use std::collections::BTreeMap;
use std::sync::{mpsc, Condvar, Mutex};

use super::archive::{self, Contents, Entry, Role};
use super::{archive_end, decode_entry, ArchiveTally, EntryRead, InputError, LoadedDump};

/// Jobs the walker may be ahead of the caller.
pub const WINDOW: usize = 4;

/// What the caller receives, in input order.
pub enum Streamed<T> {
    /// One dump, as the function made it.
    Dump(T),
    /// An input that could not be read (an archive without a readable dump
    /// is one), and why.
    Unreadable { path: String, error: InputError },
    /// What an archive said about itself, after its last dump: entries
    /// passed over, proxies without a dump, damage.
    Notes { file: String, notes: Vec<String> },
}

enum Job {
    File(String),
    Entry {
        file: String,
        proxy: String,
        entry: Entry,
    },
    /// Passed to the caller as it is.
    Mark(Mark),
}

enum Done<T> {
    Dumps(Vec<T>),
    Mark(Mark),
}

/// What the walker or a worker says beside dumps.
enum Mark {
    /// A note on an archive's entry (ztunnel's or istiod's dump, text where
    /// a dump was expected).
    Note(String),
    /// An archive's last entry was read.
    End {
        file: String,
        contents: Contents,
        seen: usize,
    },
    Failed {
        path: String,
        error: InputError,
    },
}

/// Reads every dump of `paths` and gives `f`'s result for each to
/// `consume`, in input order. `consume` returning an error stops the
/// reading and returns it.
pub fn stream<T: Send, E>(
    paths: &[String],
    workers: usize,
    f: &(dyn Fn(LoadedDump) -> T + Sync),
    consume: &mut dyn FnMut(Streamed<T>) -> Result<(), E>,
) -> Result<(), E> {
    let workers = workers.max(1);
    // The decoding of each dump spreads over a pool of this call's own:
    // the caller may itself be running on the global pool (a command run
    // inside a parallel loop), and blocking its threads while our workers
    // wait for them would never end.
    //
    // Many dumps: each worker decodes its dump alone on a one-thread pool.
    // Sharing one pool, a worker waiting for the half of its dump another
    // thread stole sat idle (it cannot take the next dump meanwhile): on a
    // fleet of 300 gateway dumps that cost a third of the time. One plain
    // file is one dump: its decoding spreads over all the threads.
    let one_dump = paths.len() == 1 && {
        let p = std::path::Path::new(&paths[0]);
        paths[0] == "-" || (p.is_file() && !looks_like_archive(p))
    };
    let (workers, threads) = if one_dump { (1, workers) } else { (workers, 1) };
    let pools: Vec<Option<rayon::ThreadPool>> = (0..workers)
        .map(|w| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |i| format!("egress-xray-decode-{w}.{i}"))
                .build()
                .ok()
        })
        .collect();
    // How many jobs the caller has taken; the walker waits on it.
    let taken = (Mutex::new(0usize), Condvar::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (job_tx, job_rx) = mpsc::sync_channel::<(usize, Job)>(0);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Done<T>)>();
    std::thread::scope(|s| {
        let walker = {
            let (taken, stop) = (&taken, &stop);
            s.spawn(move || {
                let mut seq = 0usize;
                let mut send = |job: Job| -> bool {
                    let (lock, cv) = taken;
                    let mut n = lock.lock().unwrap_or_else(|e| e.into_inner());
                    while seq >= *n + WINDOW && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        n = cv.wait(n).unwrap_or_else(|e| e.into_inner());
                    }
                    drop(n);
                    if stop.load(std::sync::atomic::Ordering::Relaxed) || job_tx.send((seq, job)).is_err() {
                        return false;
                    }
                    seq += 1;
                    true
                };
                for p in paths {
                    if !walk(p, &mut send) {
                        break;
                    }
                }
            })
        };
        for pool in &pools {
            let (job_rx, done_tx, pool, stop) = (&job_rx, done_tx.clone(), pool.as_ref(), &stop);
            // A worker takes jobs until the walker is done, even after the
            // caller stopped (it then drops them unread): the walker may be
            // waiting to hand one over, and must see that it should stop.
            s.spawn(move || loop {
                let next = job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((seq, job)) = next else { break };
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    continue;
                }
                let label = job.label();
                let work = || match pool {
                    Some(p) => p.install(|| run(job, f)),
                    None => run(job, f),
                };
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
                    Done::Mark(Mark::Failed {
                        path: label.clone(),
                        error: InputError::NotADump {
                            file: label,
                            looks_like: format!(
                                "input that egress-xray failed on: {} (an egress-xray defect: please report it)",
                                panic
                                    .downcast_ref::<&str>()
                                    .map(|s| s.to_string())
                                    .or_else(|| panic.downcast_ref::<String>().cloned())
                                    .unwrap_or_default()
                            ),
                        },
                    })
                });
                // The caller may have stopped: what it no longer takes is dropped.
                let _ = done_tx.send((seq, done));
            });
        }
        drop(done_tx);
        // In input order: results that arrive early wait here (at most WINDOW).
        let mut early: BTreeMap<usize, Done<T>> = BTreeMap::new();
        let mut next = 0usize;
        let mut archive = ArchiveTally::default();
        let mut result = Ok(());
        'recv: for (seq, done) in done_rx.iter() {
            early.insert(seq, done);
            while let Some(done) = early.remove(&next) {
                next += 1;
                {
                    let (lock, cv) = &taken;
                    *lock.lock().unwrap_or_else(|e| e.into_inner()) = next;
                    cv.notify_all();
                }
                let out = match done {
                    Done::Dumps(ts) => {
                        archive.read += ts.len();
                        ts.into_iter().try_for_each(|t| consume(Streamed::Dump(t)))
                    }
                    Done::Mark(Mark::Note(n)) => {
                        archive.notes.push(n);
                        Ok(())
                    }
                    Done::Mark(Mark::End { file, contents, seen }) => {
                        let tally = ArchiveTally {
                            seen,
                            ..std::mem::take(&mut archive)
                        };
                        match archive_end(&file, &contents, tally) {
                            Ok(notes) if notes.is_empty() => Ok(()),
                            Ok(notes) => consume(Streamed::Notes { file, notes }),
                            Err(error) => consume(Streamed::Unreadable { path: file, error }),
                        }
                    }
                    Done::Mark(Mark::Failed { path, error }) => {
                        // Dumps counted so far belonged to the files before.
                        archive = ArchiveTally::default();
                        consume(Streamed::Unreadable { path, error })
                    }
                };
                if out.is_err() {
                    result = out;
                    break 'recv;
                }
            }
        }
        if result.is_err() {
            // Stop the walker (it may be waiting for room) and the workers;
            // under the walker's lock, so that the wake-up is not missed.
            {
                let _room = taken.0.lock().unwrap_or_else(|e| e.into_inner());
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            taken.1.notify_all();
            drop(done_rx);
        }
        let _ = walker.join();
        result
    })
}

/// Whether a file starts as an archive does (tar, gzip'd tar, zip).
fn looks_like_archive(p: &std::path::Path) -> bool {
    let Ok(f) = std::fs::File::open(p) else {
        return false;
    };
    // SAFETY: read-only mapping, as for dumps (see input::load_path).
    unsafe { memmap2::Mmap::map(&f) }.is_ok_and(|map| archive::sniff(&map).is_some())
}

/// Sends the jobs of one input; false when the receiver is gone.
fn walk(path: &str, send: &mut dyn FnMut(Job) -> bool) -> bool {
    let p = std::path::Path::new(path);
    let archive_of = |contents: Result<Contents, InputError>, seen: usize| {
        Job::Mark(match contents {
            Ok(contents) => Mark::End {
                file: path.to_string(),
                contents: contents.finish(),
                seen,
            },
            Err(error) => Mark::Failed {
                path: path.to_string(),
                error,
            },
        })
    };
    if path != "-" && p.is_dir() && archive::is_layout_dir(p) {
        let mut tally = Walked::default();
        let contents = archive::read_dir_each(p, Role::is_dump, &mut |e| tally.entry(path, e, send));
        return !tally.gone && send(archive_of(contents, tally.seen));
    }
    if path != "-" && p.is_file() {
        if let Ok(f) = std::fs::File::open(p) {
            // SAFETY: read-only mapping, as for dumps (see input::load_path).
            if let Ok(map) = unsafe { memmap2::Mmap::map(&f) } {
                if let Some(kind) = archive::sniff(&map) {
                    let _ = map.advise(memmap2::Advice::Sequential);
                    let mut tally = Walked::default();
                    let contents =
                        archive::read_each(path, &map, kind, Role::is_dump, &mut |e| tally.entry(path, e, send));
                    return !tally.gone && send(archive_of(contents, tally.seen));
                }
            }
        }
    }
    send(Job::File(path.to_string()))
}

/// The walker's count of an archive's dump entries.
#[derive(Default)]
struct Walked {
    seen: usize,
    /// The receiver is gone: stop reading.
    gone: bool,
}

impl Walked {
    fn entry(&mut self, file: &str, e: Entry, send: &mut dyn FnMut(Job) -> bool) -> Result<(), InputError> {
        let mut tally = ArchiveTally::default();
        let job = match super::archive_entry_proxy(&e, &mut tally) {
            Some(proxy) => Job::Entry {
                file: file.to_string(),
                proxy,
                entry: e,
            },
            None => match tally.notes.pop() {
                Some(n) => Job::Mark(Mark::Note(n)),
                None => {
                    self.seen += tally.seen;
                    return Ok(());
                }
            },
        };
        self.seen += tally.seen;
        if send(job) {
            Ok(())
        } else {
            self.gone = true;
            Err(InputError::NotADump {
                file: file.to_string(),
                looks_like: "an archive whose reading was stopped".into(),
            })
        }
    }
}

impl Job {
    /// The input a job is about, for messages.
    fn label(&self) -> String {
        match self {
            Job::File(p) | Job::Mark(Mark::Failed { path: p, .. } | Mark::End { file: p, .. }) => p.clone(),
            Job::Entry { file, entry, .. } => format!("{file}#{}", entry.path),
            Job::Mark(Mark::Note(_)) => "(a note)".into(),
        }
    }
}

fn run<T>(job: Job, f: &(dyn Fn(LoadedDump) -> T + Sync)) -> Done<T> {
    match job {
        Job::File(path) => match super::load_path(&path) {
            Ok(ds) => Done::Dumps(ds.into_iter().map(f).collect()),
            Err(error) => Done::Mark(Mark::Failed { path, error }),
        },
        Job::Entry { file, proxy, entry } => match decode_entry(&file, &proxy, &entry) {
            EntryRead::Dumps(ds) => Done::Dumps(ds.into_iter().map(f).collect()),
            EntryRead::Note(n) => Done::Mark(Mark::Note(n)),
            EntryRead::Skip => Done::Dumps(Vec::new()),
        },
        Job::Mark(m) => Done::Mark(m),
    }
}
