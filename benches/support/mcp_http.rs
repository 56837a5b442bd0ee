//! A minimal MCP client over streamable HTTP (JSON-RPC over POST, SSE or JSON replies)
//! shared by the load harnesses: `initialize`, `notifications/initialized`,
//! `tools/call`, `DELETE`. Kept small and raw on purpose: the harnesses measure the
//! server, and count what a client sees on the wire.

#![allow(dead_code)]

pub(crate) struct McpSession {
    client: reqwest::Client,
    url: String,
    session: Option<String>,
    protocol: String,
}

pub(crate) fn sse_json(body: &str) -> Option<serde_json::Value> {
    // A JSON body, or the `data:` lines of an SSE stream.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body.trim()) {
        return Some(v);
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
        .find(|v| v.get("result").is_some() || v.get("error").is_some())
}

impl McpSession {
    pub(crate) async fn open(client: reqwest::Client, url: String) -> anyhow::Result<Self> {
        let init = serde_json::json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "sentinel-load", "version": "0"}
            }
        });
        let resp = client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.to_string())
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "initialize: {}", resp.status());
        let session = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().await?;
        let v = sse_json(&body).ok_or_else(|| anyhow::anyhow!("initialize body: {body}"))?;
        let protocol = v["result"]["protocolVersion"]
            .as_str()
            .unwrap_or("2025-03-26")
            .to_string();
        let mut s = McpSession {
            client,
            url,
            session,
            protocol,
        };
        let note = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let resp = s.post(note.to_string()).await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "initialized notification: {}",
            resp.status()
        );
        let _ = resp.bytes().await;
        s.protocol = s.protocol.clone();
        Ok(s)
    }

    pub(crate) async fn post(&self, body: String) -> reqwest::Result<reqwest::Response> {
        let mut rb = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", &self.protocol);
        if let Some(id) = &self.session {
            rb = rb.header("mcp-session-id", id);
        }
        rb.body(body).send().await
    }

    pub(crate) async fn call_tool(&self, id: u64, tool: &str, args: serde_json::Value) -> bool {
        let req = serde_json::json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": args}
        });
        let Ok(resp) = self.post(req.to_string()).await else {
            return false;
        };
        if !resp.status().is_success() {
            return false;
        }
        let Ok(body) = resp.text().await else {
            return false;
        };
        sse_json(&body).is_some_and(|v| {
            v.get("result").is_some() && v["result"]["isError"].as_bool() != Some(true)
        })
    }

    /// One `tools/call`, classified: `result`, `tool-error` (a result with `isError`, e.g.
    /// an upstream failure with a suggestion), `rpc-error` (a JSON-RPC error such as
    /// `invalid_params`), `http-NNN`, or `transport` (no reply at all).
    pub(crate) async fn call_tool_kind(
        &self,
        id: u64,
        tool: &str,
        args: serde_json::Value,
    ) -> String {
        let req = serde_json::json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": args}
        });
        let resp = match self.post(req.to_string()).await {
            Ok(r) => r,
            Err(_) => return "transport".into(),
        };
        if !resp.status().is_success() {
            return format!("http-{}", resp.status().as_u16());
        }
        let Ok(body) = resp.text().await else {
            return "transport".into();
        };
        match sse_json(&body) {
            Some(v) if v.get("error").is_some() => "rpc-error".into(),
            Some(v) if v["result"]["isError"].as_bool() == Some(true) => "tool-error".into(),
            Some(v) if v.get("result").is_some() => "result".into(),
            _ => "no-result".into(),
        }
    }

    /// Ends the session (`DELETE`), as a client that is done would.
    pub(crate) async fn close(&self) {
        let mut rb = self
            .client
            .delete(&self.url)
            .header("mcp-protocol-version", &self.protocol);
        if let Some(id) = &self.session {
            rb = rb.header("mcp-session-id", id);
        }
        if let Ok(r) = rb.send().await {
            let _ = r.bytes().await;
        }
    }
}

impl McpSession {
    /// One `tools/call` with its whole reply: the kind as in
    /// [`call_tool_kind`](Self::call_tool_kind) and the reply's body as received.
    pub(crate) async fn call_tool_body(
        &self,
        id: u64,
        tool: &str,
        args: serde_json::Value,
    ) -> (String, String) {
        // Megabyte requests and answers are encoded and decoded on a blocking thread:
        // on the harness's runtime they would delay its own probes' timers, and the
        // probes would measure the harness, not the server.
        let tool = tool.to_string();
        let req = tokio::task::spawn_blocking(move || {
            serde_json::json!({
                "jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": tool, "arguments": args}
            })
            .to_string()
        })
        .await
        .expect("encode");
        let resp = match self.post(req).await {
            Ok(r) => r,
            Err(_) => return ("transport".into(), String::new()),
        };
        if !resp.status().is_success() {
            return (format!("http-{}", resp.status().as_u16()), String::new());
        }
        let Ok(body) = resp.text().await else {
            return ("transport".into(), String::new());
        };
        tokio::task::spawn_blocking(move || {
            let kind = match sse_json(&body) {
                Some(v) if v.get("error").is_some() => "rpc-error",
                Some(v) if v["result"]["isError"].as_bool() == Some(true) => "tool-error",
                Some(v) if v.get("result").is_some() => "result",
                _ => "no-result",
            };
            (kind.to_string(), body)
        })
        .await
        .expect("decode")
    }
}
