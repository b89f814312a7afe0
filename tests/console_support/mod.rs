//! Shared by the console tests: a gateway with its web console on 127.0.0.1:0 over seeded SQLite
//! backends, a real headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`),
//! and plain HTTP requests for checks on headers.
//!
//! Without a browser the browser tests print `skipping` and pass, unless `CGW_REQUIRE_BROWSER=1` (set by
//! `.ci/run`), which makes them mandatory. `CGW_CONSOLE_SCREENSHOTS=docs/console` writes the screenshots
//! `docs/console.md` shows.
#![allow(dead_code)]
use complaint_gateway::testkit::{self, RunningServer};
use complaint_gateway::tools::demo;
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The chromium and chromedriver binaries, if installed (`CGW_CHROMIUM`, `CGW_CHROMEDRIVER` override).
pub fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let find = |env: &str, names: &[&str]| -> Option<PathBuf> {
        if let Ok(p) = std::env::var(env) {
            return Some(PathBuf::from(p));
        }
        for n in names {
            for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
                let p = PathBuf::from(dir).join(n);
                if p.exists() {
                    return Some(p);
                }
            }
        }
        None
    };
    Some((
        find("CGW_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"])?,
        find("CGW_CHROMEDRIVER", &["chromedriver"])?,
    ))
}

/// The browser binaries, or `None` after printing why the test is skipped; panics when
/// `CGW_REQUIRE_BROWSER=1` and none is found.
pub fn browser_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    match browser_binaries() {
        Some(b) => Some(b),
        None if std::env::var("CGW_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!(
                "CGW_REQUIRE_BROWSER=1 but no chromium/chromedriver found (apt-get install chromium chromium-driver)"
            )
        }
        None => {
            eprintln!("skipping {test}: no chromium/chromedriver (apt-get install chromium chromium-driver)");
            None
        }
    }
}

/// A headless Chromium session; the driver process ends with it.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium at `width`×`height`.
    pub async fn start(bins: &(PathBuf, PathBuf), width: u32, height: u32) -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new(&bins.1)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": bins.0,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--lang=zh-CN", format!("--window-size={width},{height}"),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        client.set_window_size(width, height).await.expect("window size");
        Browser { client, driver }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// The text of `css` once it is non-empty (what a script writes after a promise settles), waiting up
    /// to 10 s; empty if it never is.
    pub async fn text_when_set(&self, css: &str) -> String {
        for _ in 0..100 {
            let t = self.text(css).await;
            if !t.is_empty() {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        String::new()
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Clicks `css` and waits for the page it loads (a form submission or a link).
    pub async fn submit(&self, css: &str) {
        self.client.execute("window.__before_submit = 1", vec![]).await.unwrap();
        self.click(css).await;
        let started = Instant::now();
        loop {
            let done = self
                .client
                .execute(
                    "return window.__before_submit === undefined && document.readyState === 'complete'",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if done {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no new page after clicking `{css}`"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub async fn value(&self, css: &str) -> String {
        self.find(css).await.prop("value").await.unwrap().unwrap_or_default()
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    pub async fn js<T: serde::de::DeserializeOwned>(&self, script: &str) -> T {
        serde_json::from_value(self.client.execute(script, vec![]).await.unwrap()).unwrap()
    }

    /// Saves a screenshot as `<CGW_CONSOLE_SCREENSHOTS>/<name>.png` when that variable is set.
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("CGW_CONSOLE_SCREENSHOTS") else {
            return;
        };
        let _ = self.client.execute("window.scrollTo(0, 0)", vec![]).await;
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), png).unwrap();
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// A gateway over `subscribers` seeded subscribers with its console on 127.0.0.1:0, demo sign-in on and
/// the demo identities registered.
pub async fn gateway(dir: &std::path::Path, subscribers: u64) -> RunningServer {
    let urls = testkit::sqlite_urls(dir);
    testkit::seed(&urls, subscribers).await.unwrap();
    let mut cfg = testkit::config(&urls);
    cfg.store.url = format!("sqlite://{}", dir.join("gateway.db").display());
    cfg.console.listen = Some("127.0.0.1:0".parse().unwrap());
    cfg.console.demo_sign_in = true;
    let server = testkit::spawn(cfg).await.unwrap();
    demo::register(&server.gateway.identity.store).await.unwrap();
    server
}

/// `http://<console>/`.
pub fn base(server: &RunningServer) -> String {
    format!("http://{}", server.console_addr.expect("the console is on"))
}

/// The first seeded subscriber index below `limit` in `city` with situation index `k` (mod 40).
pub fn subscriber(city: &str, k: u64, limit: u64) -> u64 {
    (0..limit / 40 + 1)
        .map(|n| k + 40 * n)
        .find(|i| *i < limit && demo::city_of(*i) == city)
        .unwrap_or_else(|| panic!("no subscriber of {city} with situation {k} below {limit}"))
}

/// A raw HTTP/1.1 exchange with the console: (status, headers in lower case, body).
pub async fn http(addr: SocketAddr, request: &str) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The value of header `name` (lower case).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}
