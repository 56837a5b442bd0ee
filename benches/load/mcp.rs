//! Scenario: MCP over streamable HTTP.

use super::*;

/// The same MCP service as `bind_http` (rmcp `StreamableHttpService`, local sessions,
/// default config), mounted at `/mcp` with accepted sockets set to `TCP_NODELAY`. Only
/// the Host/Origin/token guard layer is left out (a few header comparisons).
pub(crate) async fn serve_mcp_nodelay(
    engine: EngineHandle,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    use axum::serve::ListenerExt as _;
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let token = config.cancellation_token.clone();
    let service = StreamableHttpService::new(
        move || Ok(pypi_sentinel::mcp::SentinelMcp::new(engine.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.await;
                token.cancel();
            })
            .await;
    });
    Ok((format!("http://{addr}/mcp"), task))
}

pub(crate) async fn mcp_load(
    t: &Table,
    sim: &SimHandle,
    label: &str,
    url: &str,
    levels: &[(usize, usize, Duration)],
    names: &Arc<Vec<String>>,
) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    for &(conc, total, max_time) in levels {
        let mut sessions = Vec::new();
        for _ in 0..conc {
            match McpSession::open(client.clone(), url.to_string()).await {
                Ok(s) => sessions.push(Arc::new(s)),
                Err(e) => {
                    t.note(&format!("{label}: MCP session failed: {e:#}"));
                    return;
                }
            }
        }
        // Warm the connections and the server's session workers.
        for s in &sessions {
            s.call_tool(
                1,
                "get_package_info",
                serde_json::json!({"package": names[0]}),
            )
            .await;
        }
        let sessions = Arc::new(sessions);
        let rr = Arc::new(AtomicUsize::new(0));
        let names2 = names.clone();
        sim.reset_stats();
        let run = closed_loop(conc, total, max_time, move |i| {
            // One session per task in effect: the loop hands them out round robin.
            let s = sessions[rr.fetch_add(1, Ordering::Relaxed) % sessions.len()].clone();
            let name = names2[i % names2.len()].clone();
            async move {
                s.call_tool(
                    i as u64 + 10,
                    "get_package_info",
                    serde_json::json!({ "package": name }),
                )
                .await
            }
        })
        .await;
        t.row(label, conc, &run, sim.stats().total);
    }
}

pub(crate) async fn mcp(opts: &Opts, sim: &SimHandle) {
    let t = Table::new("MCP `tools/call get_package_info` over streamable HTTP, cached");
    let engine = start_engine(engine_config(&sim.base_url())).await;
    let names: Arc<Vec<String>> = Arc::new((0..64).map(synth).collect());
    for n in names.iter() {
        engine.package_info(n, None).await.expect("warm");
    }
    let levels = [
        (
            1,
            opts.pick(2_000, 20_000),
            Duration::from_secs(opts.pick(2, 5)),
        ),
        (
            64,
            opts.pick(10_000, 100_000),
            Duration::from_secs(opts.pick(2, 10)),
        ),
    ];
    // As shipped: `pypi_sentinel::mcp::bind_http`.
    match bind_http(engine.clone(), HttpOptions::default()).await {
        Ok(server) => {
            let url = server.mcp_url();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let serving = tokio::spawn(server.run(async move {
                let _ = stop_rx.await;
            }));
            mcp_load(&t, sim, "bind_http (as shipped)", &url, &levels, &names).await;
            let _ = stop_tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
        }
        Err(e) => t.note(&format!("MCP server unavailable: {e:#}")),
    }
    // The same service with TCP_NODELAY on accepted sockets.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    match serve_mcp_nodelay(engine.clone(), stop_rx).await {
        Ok((url, serving)) => {
            mcp_load(&t, sim, "same service + TCP_NODELAY", &url, &levels, &names).await;
            let _ = stop_tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
        }
        Err(e) => t.note(&format!("TCP_NODELAY variant unavailable: {e:#}")),
    }
    t.note(
        "Client, server, engine and simulator share the same 2 cores: the client's own \
         HTTP and JSON work is inside these figures. Each task uses its own MCP session.",
    );
    engine.shutdown().await;
}
