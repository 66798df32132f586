//! The listener: a hand-rolled accept loop over hyper, so that a request can be
//! answered by closing its connection (fault injection), plus the
//! [`CloudflareStandin`] owner type.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

use super::admin;
use super::api::{self, failure, PREFIX};
use super::model::{InjectedFault, RequestLogEntry};
use super::r2;
use super::state::{CloudflareHandle, Shared};

#[derive(Clone)]
struct Routers {
    api: Router,
    admin: Router,
}

fn rate_limited(retry_after_secs: u64) -> Response<Body> {
    let mut resp = failure(
        StatusCode::TOO_MANY_REQUESTS,
        971,
        "Please wait and consider throttling your request speed",
    );
    let h = resp.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    resp
}

/// Handles one request: admin requests go straight to the admin router; API
/// requests are counted, delayed, possibly faulted, routed and logged.
async fn dispatch(
    shared: Arc<Shared>,
    routers: Routers,
    kill: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let req = req.map(Body::new);
    let path = req.uri().path().to_owned();
    if path == "/__standin" || path.starts_with("/__standin/") {
        return routers.admin.oneshot(req).await;
    }
    let (fault, latency) = shared.begin_request();
    let mut entry = RequestLogEntry {
        method: req.method().to_string(),
        path,
        query: req.uri().query().map(str::to_owned),
        has_auth: req.headers().contains_key(header::AUTHORIZATION),
        status: None,
        fault: fault.map(|(f, _)| f),
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let resp = match fault {
        Some((InjectedFault::Dropped, _)) => {
            // Read the whole request first so the close is a clean FIN after
            // the client finished sending, not a reset mid-upload.
            let _ = axum::body::to_bytes(req.into_body(), usize::MAX).await;
            shared.log(entry);
            kill.notify_one();
            return std::future::pending().await;
        }
        Some((InjectedFault::ResponseLost, _)) => {
            let resp = routers.api.oneshot(req).await?;
            entry.status = Some(resp.status().as_u16());
            shared.log(entry);
            kill.notify_one();
            return std::future::pending().await;
        }
        Some((InjectedFault::RateLimited, secs)) => rate_limited(secs),
        Some((InjectedFault::ServerError, _)) => {
            failure(StatusCode::INTERNAL_SERVER_ERROR, 10001, "Internal server error")
        }
        None => routers.api.oneshot(req).await?,
    };
    entry.status = Some(resp.status().as_u16());
    shared.log(entry);
    Ok(resp)
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let routers = Routers {
        api: api::router(shared.clone(), r2::routes()),
        admin: admin::router(shared.clone()),
    };
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // E.g. EMFILE: back off briefly instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let routers = routers.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let service = {
                let kill = kill.clone();
                service_fn(move |req| dispatch(shared.clone(), routers.clone(), kill.clone(), req))
            };
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            // Dropping `conn` closes the socket without a response.
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

/// A running Cloudflare API stand-in on `127.0.0.1:<random port>`.
///
/// Dereferences to its [`CloudflareHandle`] for seeding, inspection and fault
/// switches. Dropping it stops the server (open connections are closed).
pub struct CloudflareStandin {
    handle: CloudflareHandle,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CloudflareStandin {
    /// Starts the server on a background thread with its own tokio runtime and
    /// returns once it is listening. Usable from a plain `#[test]`.
    ///
    /// # Panics
    /// If no loopback port can be bound or the thread cannot be spawned.
    pub fn start() -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the stand-in");
        std_listener
            .set_nonblocking(true)
            .expect("set_nonblocking on the stand-in listener");
        let addr = std_listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared::new());
        let (tx, rx) = watch::channel(false);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("cloudflare-standin".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime for the stand-in");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("register listener with tokio");
                    serve(listener, thread_shared, rx).await;
                });
            })
            .expect("spawn the stand-in thread");
        CloudflareStandin {
            handle: CloudflareHandle::new(shared),
            addr,
            shutdown: tx,
            thread: Some(thread),
        }
    }

    /// Starts the server as a task on the current tokio runtime and returns
    /// once it is listening.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start_async() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the stand-in");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared::new());
        let (tx, rx) = watch::channel(false);
        tokio::spawn(serve(listener, shared.clone(), rx));
        CloudflareStandin {
            handle: CloudflareHandle::new(shared),
            addr,
            shutdown: tx,
            thread: None,
        }
    }

    /// The API base URL, `http://127.0.0.1:PORT/client/v4` (what
    /// `CLOUDFLARE_API_BASE_URL` should be set to).
    pub fn base_url(&self) -> String {
        format!("http://{}{PREFIX}", self.addr)
    }

    /// The admin API base URL, `http://127.0.0.1:PORT/__standin`.
    pub fn admin_url(&self) -> String {
        format!("http://{}/__standin", self.addr)
    }

    /// The listening socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A clonable handle to the state, usable after moving it elsewhere.
    pub fn handle(&self) -> CloudflareHandle {
        self.handle.clone()
    }
}

impl Deref for CloudflareStandin {
    type Target = CloudflareHandle;

    fn deref(&self) -> &CloudflareHandle {
        &self.handle
    }
}

impl Drop for CloudflareStandin {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
