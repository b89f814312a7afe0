//! `[console]`: the web console for handlers and managers (see `docs/console.md`; served by
//! `crate::console` on its own listener).
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// `[console]`: where the web console listens and how its sessions behave.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Address of the web console (http://ADDR/). Unset: no console. Env: `CGW_CONSOLE_LISTEN`.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The sign-in page lists the identities registered in the store and signs in as one with a token
    /// issued by the first key of `[auth] jwt_keys`: for the demo only (anyone who reaches the page can
    /// be anyone). Off: sign-in takes a token (JWT or API key) as gRPC clients send it.
    #[serde(default)]
    pub demo_sign_in: bool,
    /// A session unused for this many minutes ends; the user signs in again.
    #[serde(default = "default_idle_minutes")]
    pub session_idle_minutes: u64,
    /// The session cookie carries `Secure` (set this when a TLS-terminating proxy sits in front).
    #[serde(default)]
    pub secure_cookie: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            listen: None,
            demo_sign_in: false,
            session_idle_minutes: default_idle_minutes(),
            secure_cookie: false,
        }
    }
}

fn default_idle_minutes() -> u64 {
    30
}

impl ConsoleConfig {
    /// Checks the keys of `[console]`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(1..=24 * 60).contains(&self.session_idle_minutes) {
            out.push("key `console.session_idle_minutes`: 1 to 1440".into());
        }
        out
    }
}
