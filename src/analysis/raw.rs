//! The resources a view selected, as Envoy holds them (`-o raw`): each
//! listener, cluster, route configuration, endpoint assignment or secret
//! once, in the view's order, as proto3 JSON with Envoy's field names and
//! every Any expanded through the descriptor pool — what `istioctl
//! proxy-config cluster POD --fqdn X -o json` prints.

use std::collections::BTreeSet;

use prost::{Message, Name};
use serde_json::{json, Value};

use super::endpoints::EndpointView;
use super::inventory::{ClusterView, ListenerView};
use super::routes::RouteView;
use super::secrets::SecretView;
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret;

use crate::model::Index;

/// One message's encoding as proto3 JSON; a message the pool cannot print
/// (an Any of a type it does not know) says so in place of its content.
pub fn to_json(full_name: &str, bytes: &[u8]) -> Value {
    let Some(desc) = crate::input::pool::message(full_name) else {
        return json!({"@error": format!("{full_name} is not in this build's descriptor pool")});
    };
    let options = prost_reflect::SerializeOptions::new().use_proto_field_name(true);
    match prost_reflect::DynamicMessage::decode(desc, bytes) {
        Ok(m) => m
            .serialize_with_options(serde_json::value::Serializer, &options)
            .unwrap_or_else(|e| json!({"@error": format!("not printable as JSON: {e}")})),
        Err(e) => json!({"@error": format!("does not decode as {full_name}: {e}")}),
    }
}

/// Each key once, in first-seen order.
fn once<K: Ord + Clone>(keys: impl Iterator<Item = K>) -> Vec<K> {
    let mut seen = BTreeSet::new();
    keys.filter(|k| seen.insert(k.clone())).collect()
}

pub fn listeners(ix: &Index, rows: &[ListenerView]) -> Vec<Value> {
    once(rows.iter().map(|r| (r.name.clone(), r.state)))
        .into_iter()
        .filter_map(|(name, state)| {
            let e = ix.listeners.iter().find(|e| e.name == name && e.state == state)?;
            Some(to_json(&Listener::full_name(), &e.lazy.as_ref()?.encoded()))
        })
        .collect()
}

pub fn clusters(ix: &Index, rows: &[ClusterView]) -> Vec<Value> {
    once(rows.iter().map(|r| (r.name.clone(), r.state)))
        .into_iter()
        .filter_map(|(name, state)| {
            let e = ix.clusters.iter().find(|e| e.name == name && e.state == state)?;
            Some(to_json(&Cluster::full_name(), &e.lazy.encoded()))
        })
        .collect()
}

pub fn route_configs(ix: &Index, rows: &[RouteView]) -> Vec<Value> {
    let keys = once(rows.iter().map(|r| {
        (
            r.route_config.clone(),
            serde_json::to_string(&r.origin).unwrap_or_default(),
            r.state,
        )
    }));
    keys.into_iter()
        .filter_map(|(name, origin, state)| {
            let e = ix.route_configs.iter().find(|e| {
                e.name == name && e.state == state && serde_json::to_string(&e.origin).unwrap_or_default() == origin
            })?;
            Some(to_json(&RouteConfiguration::full_name(), &e.lazy.encoded()))
        })
        .collect()
}

pub fn endpoints(ix: &Index, rows: &[EndpointView]) -> Vec<Value> {
    once(
        rows.iter()
            .map(|r| (r.eds_service.clone().unwrap_or_else(|| r.cluster.clone()), r.state)),
    )
    .into_iter()
    .flat_map(|(name, state)| {
        ix.endpoints
            .iter()
            .filter(move |e| e.cluster_name == name && e.state == state)
            .map(|e| to_json(&ClusterLoadAssignment::full_name(), &e.lazy.encoded()))
    })
    .collect()
}

pub fn secrets(ix: &Index, rows: &[SecretView]) -> Vec<Value> {
    once(rows.iter().map(|r| (r.name.clone(), r.state)))
        .into_iter()
        .filter_map(|(name, state)| {
            let e = ix.secrets.iter().find(|e| e.name == name && e.state == state)?;
            Some(to_json(&Secret::full_name(), &e.secret.as_ref()?.encode_to_vec()))
        })
        .collect()
}
