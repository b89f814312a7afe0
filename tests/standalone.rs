//! The binary stands alone: copied into an empty folder it runs the demo, checks the embedded scenarios
//! and adapters, and classifies, with no checkout beside it. Every call the demo prints works as printed,
//! with the token printed beside it, and the `gateway.toml` the demo writes is served as it is by
//! `serve --config`, from any working directory.
//!
//! `adapters check` needs databases: here, the demo's own SQLite files, reached either through the
//! demo's `gateway.toml` (`--config`) or, for the embedded adapters with no config, through the
//! `CGW_SOURCE_<NAME>_URL` variables.
use complaint_gateway::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient;
use complaint_gateway::proto::complaint::v1::diagnosis_service_client::DiagnosisServiceClient;
use complaint_gateway::proto::complaint::v1::{DiagnoseRequest, GetSubscriberViewRequest, SourceState};
use complaint_gateway::testkit::with_token;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_complaint-gateway");

/// A child process killed when dropped (a failing test leaves no server behind).
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Lines of output until one satisfies `done` (or the process ends, or two minutes pass).
    fn read_until(&self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(300)) {
            let stop = done(&line);
            out.push(line);
            if stop {
                return out;
            }
        }
        panic!(
            "the process stopped or went quiet before the expected line; output:\n{}",
            out.join("\n")
        );
    }
}

/// A command of the binary at `bin`, in `cwd`, with no `CGW_*` variable of the test's environment.
fn command(bin: &Path, cwd: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(cwd).env("RUST_BACKTRACE", "0");
    for (k, _) in std::env::vars() {
        if k.starts_with("CGW_") {
            c.env_remove(k);
        }
    }
    c
}

/// Starts `cmd`, forwarding the lines of stdout (`from_stdout`) or stderr to a channel.
fn start(mut cmd: Command, from_stdout: bool) -> Running {
    cmd.stdin(Stdio::null());
    if from_stdout {
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let (tx, rx) = mpsc::channel();
    let pipe: Box<dyn std::io::Read + Send> = if from_stdout {
        Box::new(child.stdout.take().expect("piped"))
    } else {
        Box::new(child.stderr.take().expect("piped"))
    };
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running { child, lines: rx }
}

/// Runs the demo in `cwd` on a free port; returns it once it has printed its banner, and the banner.
fn run_demo(bin: &Path, cwd: &Path, subscribers: u64) -> (Running, Vec<String>) {
    let mut c = command(bin, cwd);
    c.args([
        "demo",
        "--subscribers",
        &subscribers.to_string(),
        "--listen",
        "127.0.0.1:0",
        "--console-listen",
        "127.0.0.1:0",
        // A small complaint history: the path is the same as the default 20,000's.
        "--history-complaints",
        "300",
    ]);
    let demo = start(c, true);
    let banner = demo.read_until(|l| l.starts_with("Ctrl-C stops the server."));
    (demo, banner)
}

/// What the demo printed: where it listens, its tokens by variable, the numbers with their city and
/// token, and the ready-to-run calls (method, token variable, JSON body).
#[derive(Debug)]
struct Banner {
    addr: String,
    tokens: BTreeMap<String, String>,
    numbers: Vec<(String, String, String)>,
    calls: Vec<(String, String, String)>,
}

fn parse_banner(lines: &[String]) -> Banner {
    let addr = lines
        .iter()
        .find_map(|l| l.strip_prefix("complaint-gateway demo listening on "))
        .expect("the demo says where it listens")
        .to_string();
    let mut tokens = BTreeMap::new();
    let mut numbers = Vec::new();
    let mut calls = Vec::new();
    for l in lines.iter().map(|l| l.trim()) {
        if let Some(rest) = l.strip_prefix("export ") {
            let (var, value) = rest.split_once('=').expect("export VAR=VALUE");
            let value = value.split_whitespace().next().expect("a token");
            tokens.insert(var.to_string(), value.to_string());
        } else if l.starts_with("grpcurl ") || l.starts_with("npx buf curl ") {
            let var = l
                .split("Bearer $")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .expect("the call names its token");
            let body = l
                .split("-d '")
                .nth(1)
                .and_then(|r| r.split('\'').next())
                .expect("a JSON body");
            let method = l.rsplit(['/', ' ']).next().expect("a method").to_string();
            calls.push((method, var.to_string(), body.to_string()));
        } else {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() >= 4 && w[0].len() == 11 && w[0].bytes().all(|b| b.is_ascii_digit()) && w[3].starts_with('$') {
                numbers.push((w[0].to_string(), w[1].to_string(), w[3][1..].to_string()));
            }
        }
    }
    Banner {
        addr,
        tokens,
        numbers,
        calls,
    }
}

/// Reads `msisdn` with `token` and checks the answer is the subscriber's own view.
async fn read_view(addr: &str, token: &str, msisdn: &str) -> Result<(), tonic::Status> {
    let mut client = ComplaintDataServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connects");
    let r = client
        .get_subscriber_view(with_token(
            GetSubscriberViewRequest {
                msisdn: msisdn.to_string(),
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner();
    assert_eq!(r.view.expect("a view").msisdn, msisdn);
    let billing = r
        .sources
        .iter()
        .find(|s| s.source == "billing")
        .expect("billing answers");
    assert_eq!(billing.state(), SourceState::Ok, "{msisdn}: {billing:?}");
    Ok(())
}

/// Runs one printed call (`GetSubscriberView` or `Diagnose`) with its JSON body.
async fn run_call(addr: &str, token: &str, method: &str, body: &str) {
    let json: serde_json::Value = serde_json::from_str(body).expect("the printed body is JSON");
    let msisdn = json["msisdn"].as_str().expect("a number").to_string();
    match method {
        "GetSubscriberView" => read_view(addr, token, &msisdn)
            .await
            .unwrap_or_else(|e| panic!("{method} {body}: {e:?}")),
        "Diagnose" => {
            let mut client = DiagnosisServiceClient::connect(format!("http://{addr}"))
                .await
                .expect("connects");
            let r = client
                .diagnose(with_token(
                    DiagnoseRequest {
                        msisdn,
                        text: json["text"].as_str().expect("a complaint").to_string(),
                        ..Default::default()
                    },
                    token,
                ))
                .await
                .unwrap_or_else(|e| panic!("{method} {body}: {e:?}"))
                .into_inner();
            assert!(!r.category.is_empty() && !r.matches.is_empty(), "{r:?}");
        }
        other => panic!("the demo printed a call to {other}, which this test does not know"),
    }
}

/// Every call of the banner, with the token it names: the ready-made ones and one view per number.
async fn run_every_printed_call(b: &Banner) {
    let token = |var: &str| {
        b.tokens
            .get(var)
            .unwrap_or_else(|| panic!("a call uses ${var}, which the demo did not print"))
            .clone()
    };
    assert!(!b.calls.is_empty(), "the demo prints ready-to-run calls");
    for (method, var, body) in &b.calls {
        run_call(&b.addr, &token(var), method, body).await;
    }
    for (number, _city, var) in &b.numbers {
        read_view(&b.addr, &token(var), number)
            .await
            .unwrap_or_else(|e| panic!("{number} with ${var}: {e:?}"));
    }
}

async fn serving(addr: &str) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{addr}")) else {
        return false;
    };
    let Ok(channel) = endpoint.connect().await else {
        return false;
    };
    let mut h = tonic_health::pb::health_client::HealthClient::new(channel);
    h.check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .is_ok_and(|r| r.into_inner().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
}

fn output(mut c: Command) -> (i32, String, String) {
    let out = c.output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_binary_runs_the_demo_and_the_offline_tools_in_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("complaint-gateway");
    std::fs::copy(BIN, &bin).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "the folder holds the binary alone"
    );

    // demo: seeds, serves, answers a health check.
    let (demo, banner) = run_demo(&bin, dir.path(), 40);
    let b = parse_banner(&banner);
    assert!(serving(&b.addr).await, "the demo answers health checks");
    // The web console works at once: its URL is printed and its sign-in page lists the demo identities.
    let console = banner
        .iter()
        .find_map(|l| l.strip_prefix("web console: http://"))
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("the demo prints the console's URL:\n{}", banner.join("\n")))
        .to_string();
    let page = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&console).expect("the console listens");
        s.write_all(b"GET /signin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("h-hz-01") && page.contains("m-hz-01"), "{page}");
    assert!(
        banner
            .iter()
            .any(|l| l.contains("the embedded adapters (billing, crm, resource)")
                && l.contains("scenarios: the embedded scenarios")),
        "the demo says which adapters and scenarios it serves:\n{}",
        banner.join("\n")
    );
    drop(demo);

    // scenarios check: no scenarios/ here, so the embedded set, named.
    let mut c = command(&bin, dir.path());
    c.args(["scenarios", "check"]);
    let (code, stdout, stderr) = output(c);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("ok: "), "{stdout}");
    assert!(
        stdout.contains("checked the embedded scenarios: ") && stdout.contains("vas_no_consent.toml"),
        "{stdout}"
    );

    // classify: the classifier is trained from the embedded corpus.
    let mut c = command(&bin, dir.path());
    c.arg("classify").stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("{\"id\":\"1\",\"text\":\"营业厅服务态度太差了\"}\n".as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["id"], "1");
    assert_eq!(line["category"], "service.staff_conduct");

    // adapters check with the demo's config: the embedded adapters against the demo's SQLite files.
    let mut c = command(&bin, dir.path());
    c.args(["adapters", "check", "--config", "demo-data/gateway.toml"]);
    let (code, stdout, stderr) = output(c);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("checked 3 source(s) (billing, crm, resource)")),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with(": ok"), "{stdout}");

    // adapters check with no config and no adapters/ folder: the embedded set, which says what it needs.
    let mut c = command(&bin, dir.path());
    c.args(["adapters", "check"]);
    let (code, stdout, stderr) = output(c);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("checking the adapters embedded in the binary (billing, crm, resource)"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("(adapters)"),
        "the missing folder is not a source: {stdout}"
    );
    assert!(
        stdout.contains("no URL for `billing`: set CGW_SOURCE_BILLING_URL or CGW_BILLING_URL, or pass --config"),
        "{stdout}"
    );
    // … and with the URLs in the environment, it checks them.
    let mut c = command(&bin, dir.path());
    c.args(["adapters", "check"]);
    for s in ["billing", "crm", "resource"] {
        c.env(
            format!("CGW_SOURCE_{}_URL", s.to_uppercase()),
            format!("sqlite://demo-data/{s}.db"),
        );
    }
    let (code, stdout, stderr) = output(c);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("checked 3 source(s) (billing, crm, resource)")),
        "{stdout}"
    );

    // A folder named on the command line that is not there is said so, not taken for a source.
    let mut c = command(&bin, dir.path());
    c.args(["adapters", "check", "adapters"]);
    let (code, stdout, stderr) = output(c);
    assert_eq!(code, 1);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("adapters: no such folder"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_the_demo_prints_answers_ok_with_the_token_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_demo, banner) = run_demo(Path::new(BIN), dir.path(), 60);
    let b = parse_banner(&banner);
    // One number per situation the 60 subscribers hold (every problem and the normal one), each with its
    // city, and a token for every city.
    let held = complaint_gateway::tools::seed::SITUATIONS
        .iter()
        .filter(|s| s.first_index() < 60)
        .count();
    assert!(
        held >= 25,
        "the demo's first 60 subscribers hold the situations ({held})"
    );
    assert_eq!(b.numbers.len(), held, "{}", banner.join("\n"));
    let cities: std::collections::BTreeSet<&str> = b.numbers.iter().map(|(_, c, _)| c.as_str()).collect();
    assert_eq!(cities.len(), 4, "the numbers span the four demo cities: {cities:?}");
    for (number, city, var) in &b.numbers {
        assert_eq!(var, &format!("TOKEN_{city}"), "{number}");
        assert_eq!(
            city,
            &complaint_gateway::tools::demo::city_of(
                complaint_gateway::tools::seed::SITUATIONS
                    .iter()
                    .map(|s| s.first_index())
                    .find(|i| complaint_gateway::tools::seed::msisdn(*i) == *number)
                    .expect("a seeded situation's number")
            ),
            "{number} is printed with its own city"
        );
    }
    assert!(b.calls.iter().any(|(m, _, _)| m == "Diagnose"), "{:?}", b.calls);
    run_every_printed_call(&b).await;
    // The city beside a number matters: another city's handler is refused.
    let (number, city, _) = &b.numbers[1];
    let other = b.tokens.keys().find(|v| **v != format!("TOKEN_{city}")).unwrap();
    let e = read_view(&b.addr, &b.tokens[other], number).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_config_is_served_as_it_is_by_serve_config_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (demo, banner) = run_demo(Path::new(BIN), dir.path(), 30);
    let b = parse_banner(&banner);
    drop(demo);
    let config: PathBuf = dir.path().join("demo-data/gateway.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("url = \"sqlite://billing.db\""),
        "relative to the file's folder:\n{text}"
    );
    // Served from another working directory: every relative path resolves against the file's folder.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut c = command(Path::new(BIN), elsewhere.path());
    c.args(["serve", "--config", config.to_str().unwrap()]);
    let served = start(c, false);
    let lines = served.read_until(|l| l.contains("complaint-gateway listening on "));
    let addr = lines
        .last()
        .and_then(|l| l.split("complaint-gateway listening on ").nth(1))
        .unwrap()
        .trim()
        .to_string();
    assert!(serving(&addr).await);
    // The demo's tokens are good on the served config: same key, same store.
    run_every_printed_call(&Banner { addr, ..b }).await;
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing is written to the working directory"
    );
}

#[test]
fn no_code_of_the_binary_reads_the_build_tree() {
    // The shipped files are embedded (`src/assets.rs`); only test code may name the checkout: the test
    // kit, modules compiled only for tests (`#[cfg(any(test, feature = "testkit"))] pub mod x;`) and
    // `#[cfg(test)] mod tests`.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut test_only: Vec<PathBuf> = vec![src.join("testkit.rs")];
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let dir = if f.ends_with("mod.rs") || f.ends_with("lib.rs") {
            f.parent().unwrap().to_path_buf()
        } else {
            f.with_extension("")
        };
        for gated in text.split("#[cfg(any(test, feature = \"testkit\"))]\n").skip(1) {
            if let Some(name) = gated.strip_prefix("pub mod ").and_then(|r| r.split(';').next()) {
                test_only.push(dir.join(format!("{name}.rs")));
                test_only.push(dir.join(name));
            }
        }
    }
    let mut offenders = Vec::new();
    for p in &files {
        if p.ends_with("tests.rs") || test_only.iter().any(|t| p.starts_with(t)) {
            continue;
        }
        let text = std::fs::read_to_string(p).unwrap();
        let runtime = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        for (i, line) in runtime.lines().enumerate() {
            if line.contains("env!(\"CARGO_MANIFEST_DIR\")") {
                offenders.push(format!("{}:{}", p.strip_prefix(&src).unwrap().display(), i + 1));
            }
        }
    }
    assert!(
        test_only.iter().any(|p| p.ends_with("tools/scaffold/accuracy.rs")),
        "the gated modules are found: {test_only:?}"
    );
    assert!(offenders.is_empty(), "reads the build tree at run time: {offenders:?}");
}
