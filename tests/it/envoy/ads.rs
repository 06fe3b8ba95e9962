//! A small ADS server for the real-Envoy tests: state-of-the-world and
//! delta gRPC on loopback, from envoy-types' own service definitions. The
//! test pushes resources; the server records every request Envoy sends
//! back (ACKs, and NACKs with their `error_detail`: the control plane's view
//! of a rejection).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse, Resource,
};
use envoy_types::pb::google::protobuf::Any;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// One request Envoy sent: an ACK, or a NACK with its error detail.
#[derive(Debug, Clone)]
pub struct Seen {
    pub type_url: String,
    /// The nonce it answers (empty for the first request of a type).
    pub nonce: String,
    pub error: Option<String>,
    pub names: Vec<String>,
}

#[derive(Default)]
struct State {
    sotw: Option<mpsc::UnboundedSender<Result<DiscoveryResponse, Status>>>,
    delta: Option<mpsc::UnboundedSender<Result<DeltaDiscoveryResponse, Status>>>,
    seen: Vec<Seen>,
}

#[derive(Clone, Default)]
struct Server(Arc<Mutex<State>>);

#[tonic::async_trait]
impl AggregatedDiscoveryService for Server {
    type StreamAggregatedResourcesStream = UnboundedReceiverStream<Result<DiscoveryResponse, Status>>;
    type DeltaAggregatedResourcesStream = UnboundedReceiverStream<Result<DeltaDiscoveryResponse, Status>>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.lock().expect("state").sotw = Some(tx);
        record(self.0.clone(), request.into_inner(), |r: DiscoveryRequest| Seen {
            type_url: r.type_url,
            nonce: r.response_nonce,
            error: r.error_detail.map(|e| e.message),
            names: r.resource_names,
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }

    async fn delta_aggregated_resources(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.lock().expect("state").delta = Some(tx);
        record(self.0.clone(), request.into_inner(), |r: DeltaDiscoveryRequest| Seen {
            type_url: r.type_url,
            nonce: r.response_nonce,
            error: r.error_detail.map(|e| e.message),
            names: r.resource_names_subscribe,
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }
}

/// Records every request Envoy sends on a stream, as `seen` reads it.
fn record<R>(state: Arc<Mutex<State>>, mut incoming: Streaming<R>, seen: fn(R) -> Seen)
where
    R: Send + 'static,
    Streaming<R>: Send + 'static,
{
    tokio::spawn(async move {
        while let Ok(Some(r)) = incoming.message().await {
            state.lock().expect("state").seen.push(seen(r));
        }
    });
}

/// The server, running on its own thread until dropped.
pub struct Ads {
    state: Arc<Mutex<State>>,
    pub addr: SocketAddr,
    pub delta: bool,
    nonce: u64,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
pub const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

impl Ads {
    pub fn start(delta: bool) -> Ads {
        let server = Server::default();
        let state = server.0.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("ADS port");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                // HTTP/2 straight from hyper: tonic's own server needs its
                // router feature (axum), which the tests do not need.
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let svc = AggregatedDiscoveryServiceServer::new(server);
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            break;
                        };
                        let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
                        tokio::spawn(async move {
                            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stop_rx => {}
                }
            });
        });
        Ads {
            state,
            addr,
            delta,
            nonce: 0,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Every request Envoy sent so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("state").seen.clone()
    }

    /// Waits (bounded) until Envoy has asked for `type_url`.
    pub fn wait_for_request(&self, type_url: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.seen().iter().any(|s| s.type_url == type_url) {
            assert!(
                Instant::now() < deadline,
                "Envoy never asked for {type_url}: {:?}",
                self.seen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends every resource of `type_url` (state of the world; in delta,
    /// each as an added/updated resource) with `version`, and waits for
    /// Envoy's answer to it: Ok on ACK, Err(error detail) on NACK.
    pub fn push(&mut self, type_url: &str, resources: &[(String, Any)], version: &str) -> Result<(), String> {
        self.nonce += 1;
        let nonce = self.nonce.to_string();
        {
            let st = self.state.lock().expect("state");
            if self.delta {
                let tx = st.delta.as_ref().expect("Envoy is connected (delta)");
                let _ = tx.send(Ok(DeltaDiscoveryResponse {
                    system_version_info: version.into(),
                    type_url: type_url.into(),
                    nonce: nonce.clone(),
                    resources: resources
                        .iter()
                        .map(|(name, any)| Resource {
                            name: name.clone(),
                            version: version.into(),
                            resource: Some(any.clone()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }));
            } else {
                let tx = st.sotw.as_ref().expect("Envoy is connected (SotW)");
                let _ = tx.send(Ok(DiscoveryResponse {
                    version_info: version.into(),
                    type_url: type_url.into(),
                    nonce: nonce.clone(),
                    resources: resources.iter().map(|(_, a)| a.clone()).collect(),
                    ..Default::default()
                }));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self
                .seen()
                .into_iter()
                .find(|s| s.nonce == nonce && s.type_url == type_url)
            {
                return match s.error {
                    Some(e) => Err(e),
                    None => Ok(()),
                };
            }
            assert!(
                Instant::now() < deadline,
                "Envoy did not answer nonce {nonce} of {type_url}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ads {
    fn drop(&mut self) {
        // Stop serving; the thread ends once Envoy's stream is gone (Envoy
        // is stopped by its own guard), so it is not waited for here.
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        drop(self.thread.take());
    }
}

/// A resource given as Envoy's JSON, packed as an Any through the tool's
/// descriptor pool (every field as Envoy defines it).
pub fn any(full_name: &str, json: &serde_json::Value) -> Any {
    use prost::Message;
    let desc = egress_xray::input::pool::message(full_name).unwrap_or_else(|| panic!("{full_name} is in the pool"));
    let mut body = json.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("@type");
    }
    let msg = prost_reflect::DynamicMessage::deserialize(desc, body).unwrap_or_else(|e| panic!("{full_name}: {e}"));
    Any {
        type_url: format!("type.googleapis.com/{full_name}"),
        value: msg.encode_to_vec(),
    }
}
