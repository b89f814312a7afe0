//! The composition root: builds a gateway from its configuration (sources, store, identity, the audited
//! read, diagnosis) and serves it: the gRPC services behind the authentication layer, health (overall and
//! per source), reflection, TLS, and the metrics endpoint.
use crate::adapters::registry::Registry;
use crate::api;
use crate::config::Config;
use crate::identity::config::TlsConfig;
use crate::identity::IdentityServices;
use crate::proto::complaint::v1::complaint_data_service_server::ComplaintDataServiceServer;
use crate::proto::complaint::v1::complaint_service_server::ComplaintServiceServer;
use crate::proto::complaint::v1::diagnosis_service_server::DiagnosisServiceServer;
use crate::read::Reads;
use crate::view::ViewReader;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Largest request the data and diagnosis services accept: a number and a few filters or a complaint
/// text; anything near tonic's 4 MiB default is abuse, refused early.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A running gateway's parts, shared by its services.
pub struct Gateway {
    pub config: Config,
    /// The sources, their cache and stacks.
    pub reader: ViewReader,
    /// Authentication state, identities, operator IDs and the audit trail.
    pub identity: Arc<IdentityServices>,
    /// The one audited read (see `crate::read`).
    pub reads: Arc<Reads>,
    /// Complaint cases (see `crate::cases`).
    pub cases: Arc<crate::cases::service::Cases>,
    /// Signs the web console's demo sign-in tokens (`[console] demo_sign_in`, with a JWT key).
    pub console_issuer: Option<Arc<crate::identity::auth::TokenIssuer>>,
    /// Complaint analytics (see `crate::analytics`).
    pub analytics: Arc<crate::analytics::service::Analytics>,
}

impl Gateway {
    /// Opens the store (migrating it), starts the audit writer and builds the reader over `registry`.
    /// `env` resolves secrets named in the config (injectable for tests).
    pub async fn open(
        cfg: Config,
        registry: Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Gateway> {
        let identity = Arc::new(
            IdentityServices::open(&cfg.auth, &cfg.store, env)
                .await
                .map_err(anyhow::Error::msg)?,
        );
        tracing::info!(store = %identity.store.redacted_url(), tls = cfg.tls.enabled(), "identity store open");
        // An owner must be a configured source: a typo would silently leave the field unowned.
        let names = registry.names();
        for (path, owners) in cfg.owners() {
            if let Some(o) = owners.iter().find(|o| !names.iter().any(|n| n == *o)) {
                anyhow::bail!(
                    "key `owners.\"{path}\"`: `{o}` is not a configured source; configured sources: {}",
                    names.join(", ")
                );
            }
        }
        let reader = ViewReader::from_config(registry, &cfg);
        // Several replicas: the shared tier behind the cache and the per-caller limits (`[redis]`).
        if let Some(shared) = crate::cluster::Shared::open(&cfg.redis)
            .await
            .map_err(anyhow::Error::msg)?
        {
            tracing::info!(redis = %shared.redacted_url(), replica = %shared.replica(), "shared tier on");
            reader.share(shared.clone());
            if shared.shares_limits() {
                identity.auth.share_limits(shared);
            }
        }
        let reads = Arc::new(
            Reads::new(
                reader.clone(),
                identity.audit.clone(),
                Duration::from_millis(cfg.server.request_timeout_ms),
            )
            .remembering(crate::region::RegionMemory::new(Duration::from_secs(
                cfg.cache.region_max_age_secs,
            ))),
        );
        // Case rules load before serving: a broken rules folder fails start-up, naming every problem.
        let rules = Arc::new(
            crate::cases::rules::Rules::load(crate::cases::rules::rules_folder(&cfg.cases))
                .map_err(anyhow::Error::msg)?,
        );
        if cfg.cases.reload_interval_ms > 0 {
            rules.spawn_reload(Duration::from_millis(cfg.cases.reload_interval_ms));
        }
        let cases = Arc::new(crate::cases::service::Cases::new(
            reads.clone(),
            crate::cases::store::CaseStore::new(identity.store.clone()),
            rules,
        ));
        let console_issuer = if cfg.console.demo_sign_in && !cfg.auth.jwt_keys.is_empty() {
            Some(Arc::new(
                crate::identity::auth::TokenIssuer::from_config(&cfg.auth, 0, env).map_err(anyhow::Error::msg)?,
            ))
        } else {
            None
        };
        let analytics = Arc::new(crate::analytics::service::Analytics::new(
            crate::analytics::AnalyticsStore::new(identity.store.clone()),
            reads.clone(),
        ));
        Ok(Gateway {
            config: cfg,
            reader,
            identity,
            reads,
            cases,
            console_issuer,
            analytics,
        })
    }
}

/// Builds the gateway of `cfg` over its configured sources, binds, starts the metrics endpoint when one is
/// configured, calls `banner` with the bound gRPC address and the web console's (if `[console] listen`),
/// and serves until Ctrl-C.
pub async fn run(
    cfg: Config,
    banner: impl FnOnce(std::net::SocketAddr, Option<std::net::SocketAddr>),
) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    // What `check-config` would report, named in the log before anything fails or a source is found
    // missing at call time (a source whose SQLite file does not exist answers UNAVAILABLE).
    for f in cfg.check_environment(&env) {
        match f.severity {
            crate::config::check::Severity::Error => tracing::warn!("{}", f.message),
            crate::config::check::Severity::Note => tracing::info!("{}", f.message),
        }
    }
    let registry = Registry::from_config(&cfg, &env).map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("binding {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    let console = match cfg.console.listen {
        Some(c) => Some(
            TcpListener::bind(c)
                .await
                .with_context(|| format!("binding the web console {c} (key `console.listen`)"))?,
        ),
        None => None,
    };
    let console_addr = match &console {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let definitions: Vec<String> = cfg
        .sources
        .iter()
        .filter(|s| s.enabled)
        .map(|s| {
            crate::assets::Folder::from_config(&s.definition)
                .map(|f| f.describe())
                .unwrap_or_default()
        })
        .collect();
    tracing::info!(%addr, sources = ?registry.names(), ?definitions, "serving");
    let gw = Arc::new(Gateway::open(cfg, registry, &env).await?);
    // Train the classifier before serving, so no Classify or Diagnose pays for it (or waits past the
    // server's bound on a call). With `[diagnosis] corpus_dir` the diagnosis service trained it at start,
    // on the extra corpus too.
    if gw.config.diagnosis.corpus_dir.is_none() {
        let t0 = std::time::Instant::now();
        tokio::task::spawn_blocking(|| {
            crate::classify::Classifier::shared();
        })
        .await
        .context("training the classifier")?;
        tracing::info!(took_ms = t0.elapsed().as_millis() as u64, "classifier ready");
    }
    if let Some(m) = gw.config.admin.metrics_listen {
        let (bound, _task) = crate::metrics::start(m, gw.reader.clone())
            .await
            .with_context(|| format!("binding the metrics endpoint {m}"))?;
        tracing::info!("metrics on http://{bound}/metrics");
    }
    if let Some(c) = console_addr {
        tracing::info!("web console on http://{c}/");
    }
    banner(addr, console_addr);
    serve_all(gw, listener, console, async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await
}

/// Serves the gateway on `listener` until `shutdown` resolves.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_all(gateway, listener, None, shutdown).await
}

/// Serves the gateway's gRPC services on `listener`, and the web console on `console` if given (the same
/// service instances behind both), until `shutdown` resolves.
pub async fn serve_all(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    console: Option<TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use futures::FutureExt;
    let shutdown = shutdown.shared();
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<ComplaintDataServiceServer<api::data::DataApi>>()
        .await;
    // Scenarios load before serving: a broken scenario folder fails start-up, naming every problem.
    let diagnosis_api = Arc::new(api::diagnosis::DiagnosisApi::start(
        gateway.reads.clone(),
        gateway.cases.clone(),
        &gateway.config.diagnosis,
    )?);
    let diagnosis =
        DiagnosisServiceServer::from_arc(diagnosis_api.clone()).max_decoding_message_size(MAX_REQUEST_BYTES);
    health
        .set_serving::<DiagnosisServiceServer<api::diagnosis::DiagnosisApi>>()
        .await;
    // The overall status ("") answers plain health checks.
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let server_cfg = &gateway.config.server;
    // Reflection can be switched off (`[server] reflection`); when on it needs no credential but counts
    // against the per-address limit of calls without one.
    let (reflection_v1, reflection_v1alpha) = if server_cfg.reflection {
        (
            Some(
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                    .build_v1()?,
            ),
            Some(
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                    .build_v1alpha()?,
            ),
        )
    } else {
        (None, None)
    };
    // Per-source health: `complaint.v1.source.<name>` is NOT_SERVING while that source's breaker is open.
    let mut watchers = Vec::new();
    for s in &gateway.reader.registry().sources {
        let name = s.adapter.name().to_string();
        if let Some(stack) = gateway.reader.stack(&name) {
            watchers.push(tokio::spawn(api::admin::report_breaker(
                health.clone(),
                name,
                stack.breaker().subscribe(),
            )));
        }
    }
    let admin = api::admin::admin_server(gateway.reads.clone());
    let data_api = Arc::new(api::data::DataApi::new(
        gateway.reads.clone(),
        gateway.config.server.max_usage_range_days,
    ));
    let data = ComplaintDataServiceServer::from_arc(data_api.clone()).max_decoding_message_size(MAX_REQUEST_BYTES);
    let cases_api = Arc::new(api::cases::CasesApi::new(gateway.cases.clone()));
    let cases = ComplaintServiceServer::from_arc(cases_api.clone()).max_decoding_message_size(MAX_REQUEST_BYTES);
    let analytics_api = Arc::new(api::analytics::AnalyticsApi::new(gateway.analytics.clone()));
    let analytics =
        crate::proto::complaint::v1::analytics_service_server::AnalyticsServiceServer::from_arc(analytics_api.clone())
            .max_decoding_message_size(MAX_REQUEST_BYTES);
    // The web console calls these same service instances in process (see `crate::console`).
    let console_task = console.map(|l| {
        let c = Arc::new(crate::console::Console::new(crate::console::ConsoleParts {
            services: crate::console::Services {
                data: data_api.clone(),
                diagnosis: diagnosis_api.clone(),
                cases: cases_api.clone(),
                analytics: analytics_api.clone(),
            },
            auth: gateway.identity.auth.clone(),
            directory: gateway.identity.directory.clone(),
            demo_issuer: gateway.console_issuer.clone(),
            cfg: gateway.config.console.clone(),
            call_timeout: Duration::from_millis(server_cfg_timeout(&gateway.config)),
            coverage: crate::diagnosis::evidence::Coverage::of(gateway.reader.registry()),
            cases: gateway.cases.clone(),
        }));
        tokio::spawn(crate::console::serve(c, l, shutdown.clone()))
    });
    health
        .set_serving::<ComplaintServiceServer<api::cases::CasesApi>>()
        .await;
    health
        .set_serving::<crate::proto::complaint::v1::analytics_service_server::AnalyticsServiceServer<api::analytics::AnalyticsApi>>()
        .await;
    let (identity_admin, audit) = api::identity::servers(gateway.identity.clone(), gateway.reader.registry().names());
    let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
    let handshake = Duration::from_millis(server_cfg.handshake_timeout_ms);
    let mut builder = tonic::transport::Server::builder()
        // One connection cannot hold more calls than this open (a bodiless-stream flood).
        .max_concurrent_streams(server_cfg.max_concurrent_streams)
        .http2_keepalive_interval(secs(server_cfg.keepalive_interval_secs))
        .http2_keepalive_timeout(secs(server_cfg.keepalive_timeout_secs))
        // A unary call whose body never comes ends here (the read itself is bounded tighter).
        // The margin covers work that is not a read (the classifier's one-off training at first use in
        // a process that did not train it at start, e.g. a test server).
        .timeout(Duration::from_millis(server_cfg.request_timeout_ms) + Duration::from_secs(60));
    if let Some(tls) = tls_config(&gateway.config.tls)? {
        builder = builder.tls_config(tls.timeout(handshake))?;
    }
    let limits = crate::conn::ConnLimits {
        max_connections: server_cfg.max_connections as usize,
        handshake_timeout: Some(handshake),
        idle_timeout: secs(server_cfg.idle_timeout_secs),
    };
    let served = builder
        // One span per RPC; the view reader's per-source events nest under it.
        .trace_fn(|req| tracing::info_span!("rpc", method = %req.uri().path()))
        // Outermost: every call is counted with its gRPC code, refusals of the layers below included.
        .layer(crate::metrics::rpc::RpcMetricsLayer)
        // Every RPC but health and reflection authenticates here, before any service code runs.
        .layer(
            crate::identity::layer::AuthLayer::new(gateway.identity.auth.clone())
                .limit_unauthenticated(server_cfg.unauthenticated_per_minute),
        )
        .add_service(health_service)
        .add_optional_service(reflection_v1)
        .add_optional_service(reflection_v1alpha)
        .add_service(data)
        .add_service(diagnosis)
        .add_service(cases)
        .add_service(analytics)
        .add_service(admin)
        .add_service(identity_admin)
        .add_service(audit)
        // Connection limits (count, handshake and idle time-outs) below HTTP/2; TCP_NODELAY set there too.
        .serve_with_incoming_shutdown(crate::conn::incoming(listener, limits), shutdown.clone())
        .await;
    for w in watchers {
        w.abort();
    }
    if let Some(mut t) = console_task {
        // Browsers hold keep-alive connections open: give them a moment, then stop.
        if tokio::time::timeout(Duration::from_secs(2), &mut t).await.is_err() {
            t.abort();
        }
    }
    served?;
    Ok(())
}

/// The bound on one service call a console page makes: the server's bound on a call.
fn server_cfg_timeout(cfg: &Config) -> u64 {
    cfg.server.request_timeout_ms + 60_000
}

/// The server's TLS (and mutual TLS) settings from `[tls]`, if it has a certificate.
pub fn tls_config(cfg: &TlsConfig) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&cfg.cert_file, &cfg.key_file) else {
        return Ok(None);
    };
    let read = |p: &std::path::Path, key: &str| {
        std::fs::read(p).with_context(|| format!("key `tls.{key}`: cannot read {}", p.display()))
    };
    let identity = tonic::transport::Identity::from_pem(read(cert, "cert_file")?, read(key, "key_file")?);
    let mut tls = tonic::transport::ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &cfg.client_ca_file {
        tls = tls
            .client_ca_root(tonic::transport::Certificate::from_pem(read(ca, "client_ca_file")?))
            .client_auth_optional(!cfg.require_client_cert);
    }
    Ok(Some(tls))
}
