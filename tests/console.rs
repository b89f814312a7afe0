//! The web console, end to end: a gateway on 127.0.0.1:0 with its console, driven by a real headless
//! Chromium (see `console_support`), and its security headers checked over plain HTTP.
mod console_support;

use complaint_gateway::tools::seed;
use console_support::{base, browser_or_skip, gateway, header, http, subscriber, Browser};

/// Situation index (mod 40) of roaming without a pack: its diagnosis asks whether a pack was bought.
const ROAMING: u64 = 4;
const SUBSCRIBERS: u64 = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hangzhou_handler_diagnoses_answers_copies_the_reply_and_closes_a_complaint() {
    let Some(bins) = browser_or_skip("the handler desk test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = gateway(dir.path(), SUBSCRIBERS).await;
    let url = base(&server);
    let hz = seed::msisdn(subscriber("0571", ROAMING, SUBSCRIBERS));
    let nb = seed::msisdn(subscriber("0574", 0, SUBSCRIBERS));
    let b = Browser::start(&bins, 1280, 800).await;

    // Sign-in: the demo identities are listed; a Hangzhou handler signs in and lands on the desk.
    b.goto(&format!("{url}/desk")).await;
    assert_eq!(b.path().await, "/signin", "signed out, the desk sends to sign-in");
    assert!(b.text("main").await.contains("h-hz-01"));
    b.screenshot("signin").await;
    b.submit("#as-h-hz-01").await;
    b.find("#msisdn").await;
    assert_eq!(b.path().await, "/desk");
    assert!(b.text("#who").await.contains("h-hz-01"));

    // A Ningbo number is refused on screen with the service's code and message.
    b.fill("#msisdn", &nb).await;
    b.submit("#lookup").await;
    let refusal = b.text("#error").await;
    assert!(refusal.contains("PERMISSION_DENIED"), "{refusal}");
    assert!(refusal.contains("无权查看"), "{refusal}");
    assert!(
        refusal.contains("0571"),
        "the message names the handler's regions: {refusal}"
    );
    assert!(!b.exists("#view").await, "nothing of the Ningbo subscriber is shown");

    // The Hangzhou number: the unified view, each part labelled with its source and state.
    b.fill("#msisdn", &hz).await;
    b.fill("#text", "去日本玩了几天回来扣了两百多漫游费，我买了漫游包的")
        .await;
    b.submit("#lookup").await;
    let sources = b.text("#sources").await;
    for s in ["billing", "crm", "resource"] {
        assert!(sources.contains(s), "{sources}");
    }
    assert!(sources.contains("正常"), "{sources}");
    let account = b.text("#part-account summary").await;
    assert!(account.contains("账户") && account.contains("billing"), "{account}");
    let customer = b.text("#part-customer").await;
    assert!(customer.contains("crm"), "{customer}");
    assert!(
        customer.contains('*'),
        "a handler sees names and ID numbers masked: {customer}"
    );

    // Diagnose: the question comes first, with the step trace so far.
    b.submit("#diagnose").await;
    assert_eq!(b.text("#outcome").await, "需要向客户确认");
    let q = b.text("#question-form legend").await;
    assert!(q.contains("漫游"), "{q}");
    assert!(b.text("#trace").await.contains("诊断步骤"));
    // Answer it (keyboard: the first choice is "yes"), and the cause and reply follow.
    b.click("#question-form input[type=radio][value=yes]").await;
    b.submit("#answer").await;
    assert_eq!(b.text("#outcome").await, "已查明原因");
    let cause = b.text("#cause").await;
    assert!(cause.contains("ROAMING_PACK_NOT_APPLIED"), "{cause}");
    let reply = b.value("#reply").await;
    assert!(
        reply.contains("268.00元"),
        "the reply carries the subscriber's own figures: {reply}"
    );
    // Each step shows what it read and from which source.
    let trace = b.text("#trace").await;
    assert!(trace.contains("数据来源") && trace.contains("billing"), "{trace}");
    // Confirm the recommended refund: it is noted on the complaint opened next.
    assert!(b.text("#actions").await.contains("退费"));
    b.click("#actions input[type=checkbox]:last-of-type").await;
    b.click("#copy-reply").await;
    // The clipboard answers asynchronously.
    let copied = b.text_when_set("#copy-status").await;
    assert_eq!(copied, "已复制到剪贴板");
    b.screenshot("desk").await;

    // Open a complaint with the diagnosis attached; its page shows the deadline clocks.
    b.submit("#create").await;
    let id = b.text("#complaint-id").await;
    assert!(id.starts_with("CMP-"), "{id}");
    assert_eq!(b.text("#state").await, "已分派");
    let clocks = b.text("#clocks").await;
    assert!(clocks.contains("首次响应") && clocks.contains("剩余"), "{clocks}");
    let events = b.text("#events").await;
    assert!(
        events.contains("diagnosed"),
        "the desk's diagnosis is attached: {events}"
    );
    assert!(
        events.contains("已确认建议操作"),
        "the confirmed action is noted: {events}"
    );

    // Progress: take it up, record the copied reply (pasted), the return visit, close it.
    b.submit("#op-start").await;
    assert_eq!(b.text("#state").await, "处理中");
    b.click("#reply-text").await;
    b.find("#reply-text")
        .await
        .send_keys("\u{E009}v\u{E000}")
        .await
        .unwrap();
    let pasted = b.value("#reply-text").await;
    assert_eq!(
        pasted, reply,
        "the copy button put the reply on the clipboard (Ctrl+V pastes it)"
    );
    b.submit("#op-reply").await;
    assert_eq!(b.text("#state").await, "已答复");
    // Closing before the return visit is refused by the service, on screen.
    b.submit("#op-close").await;
    let refused = b.text("#error").await;
    assert!(
        refused.contains("FAILED_PRECONDITION") && refused.contains("return visit"),
        "{refused}"
    );
    b.click("#visit-satisfied").await;
    b.submit("#op-visit").await;
    b.submit("#op-close").await;
    assert_eq!(b.text("#state").await, "已结案");
    b.screenshot("complaint").await;
    let events = b.text("#events").await;
    for kind in ["created", "diagnosed", "reply_sent", "return_visit", "已结案"] {
        assert!(events.contains(kind), "{kind} in {events}");
    }

    // The subscriber's history on the desk lists it.
    b.goto(&format!("{url}/desk")).await;
    b.fill("#msisdn", &hz).await;
    b.submit("#lookup").await;
    assert!(b.text("#history").await.contains(&id));

    // At tablet width the desk needs no sideways scrolling.
    b.client.set_window_size(820, 1180).await.unwrap();
    let fits: bool = b
        .js("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert!(fits, "the desk fits a tablet's width");
    b.screenshot("desk-tablet").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaint_text_with_script_and_html_is_shown_as_text() {
    let Some(bins) = browser_or_skip("the escaping test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = gateway(dir.path(), 80).await;
    let url = base(&server);
    let hz = seed::msisdn(complaint_gateway::tools::demo::subscriber_in("0571", 80, 0).unwrap());
    let b = Browser::start(&bins, 1280, 800).await;
    b.goto(&format!("{url}/signin")).await;
    b.submit("#as-h-hz-01").await;
    let hostile =
        "<script>window.__pwned=1</script><b id=\"bold\">宽带</b><img src=x onerror=\"window.__pwned=2\">断网了";
    b.fill("#msisdn", &hz).await;
    b.fill("#text", hostile).await;
    b.submit("#lookup").await;
    b.submit("#create").await;
    assert_eq!(b.text("#complaint-text").await, hostile, "shown exactly as typed");
    let pwned: bool = b.js("return window.__pwned !== undefined").await;
    assert!(!pwned, "no script of the complaint ran");
    assert!(!b.exists("#bold").await, "no element of the complaint was made");
    // The queue shows it as text too.
    b.goto(&format!("{url}/queue")).await;
    assert!(b
        .text("#complaints")
        .await
        .contains("<script>window.__pwned=1</script>"));
    assert!(!b.exists("#bold").await);
    let pwned: bool = b.js("return window.__pwned !== undefined").await;
    assert!(!pwned);
    b.close().await;
}

#[tokio::test]
async fn every_response_carries_the_csp_and_forms_need_the_session_and_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = gateway(dir.path(), 40).await;
    let addr = server.console_addr.unwrap();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    for path in ["/signin", "/desk", "/static/console.js", "/nope"] {
        let (status, headers, _) = http(addr, &get(path)).await;
        assert!(status > 0, "{path}");
        let csp = header(&headers, "content-security-policy").unwrap_or_else(|| panic!("CSP on {path}"));
        assert!(
            csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(header(&headers, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"), "{path}");
    }
    // Signed out, every page sends to sign-in (the `SignedIn` extractor of each handler); a script's
    // fetch or a JSON client gets 401 with a JSON body instead.
    let with = |path: &str, extra: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n");
    for path in [
        "/desk",
        "/queue",
        "/complaints",
        "/complaints?day=2026-11-28",
        "/complaints/CMP-1",
        "/scenarios",
        "/scenarios/billing.unexpected_charge",
        "/dashboard",
        "/dashboard/issues/ISS-1",
        "/dashboard/kpis/auto_detected",
    ] {
        let (status, headers, _) = http(addr, &get(path)).await;
        assert_eq!((status, header(&headers, "location")), (303, Some("/signin")), "{path}");
        let (status, _, _) = http(addr, &with(path, "Accept: text/html\r\nSec-Fetch-Mode: navigate\r\n")).await;
        assert_eq!(status, 303, "{path}");
        for extra in [
            "Accept: application/json\r\n",
            "Accept: */*\r\nSec-Fetch-Mode: cors\r\n",
        ] {
            let (status, headers, body) = http(addr, &with(path, extra)).await;
            assert_eq!(status, 401, "{path} {extra}");
            assert_eq!(header(&headers, "location"), None);
            assert!(
                header(&headers, "content-type").is_some_and(|t| t.starts_with("application/json")),
                "{headers:?}"
            );
            assert!(body.contains("\"code\":\"UNAUTHENTICATED\""), "{body}");
        }
    }
    // A form posted without a session is sent to sign-in too, before anything reads it.
    let (status, headers, _) = http(
        addr,
        "POST /desk HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 14\r\n\r\naction=lookup&",
    )
    .await;
    assert_eq!((status, header(&headers, "location")), (303, Some("/signin")));
    // A session id the console never issued is no session.
    let (status, _, _) = http(
        addr,
        &with("/queue", "Cookie: cgw_session=forged\r\nAccept: application/json\r\n"),
    )
    .await;
    assert_eq!(status, 401);
    // The sign-in form's token is also a cookie (double submit).
    let (_, headers, body) = http(addr, &get("/signin")).await;
    let cookie = header(&headers, "set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!body.contains("<script>"), "no inline script");
    // A sign-in without the form's token is refused; with it, a session cookie is set.
    let token = complaint_gateway::testkit::token("h-hz-01", &[complaint_gateway::identity::Role::Handler], &["0571"]);
    let post = |path: &str, cookie: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let (status, _, _) = http(addr, &post("/signin", "", &format!("form_token=x&token={token}"))).await;
    assert_eq!(status, 403);
    let form_token = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string();
    let (status, headers, _) = http(
        addr,
        &post(
            "/signin",
            &format!("cgw_signin={form_token}"),
            &format!("form_token={form_token}&token={token}"),
        ),
    )
    .await;
    assert_eq!((status, header(&headers, "location")), (303, Some("/desk")));
    let session = headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .find(|v| v.starts_with("cgw_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let sid = session.split(';').next().unwrap().to_string();
    // Signed in, the same requests are served; a day that is not a date is refused with the field named.
    let (status, _, body) = http(
        addr,
        &with("/queue", &format!("Cookie: {sid}\r\nSec-Fetch-Mode: cors\r\n")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = http(addr, &with("/complaints?day=2026-11-28", &format!("Cookie: {sid}\r\n"))).await;
    assert_eq!(status, 200);
    assert!(body.contains("没有符合条件的投诉"), "{body}");
    let (_, _, body) = http(addr, &with("/complaints?day=2026-13-01", &format!("Cookie: {sid}\r\n"))).await;
    assert!(
        body.contains("INVALID_ARGUMENT") && body.contains("day: a date such as 2026-11-28"),
        "{body}"
    );
    // A form posted without the session's CSRF token changes nothing and reads nothing.
    let (status, _, body) = http(
        addr,
        &post("/desk", &sid, "action=lookup&msisdn=13800000002&csrf=forged"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CSRF"));
    let (status, _, _) = http(
        addr,
        &post("/complaints", &sid, "msisdn=13800000002&text=x&channel=HOTLINE"),
    )
    .await;
    assert_eq!(status, 403);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM complaint_cases")
        .fetch_one(server.gateway.identity.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 0, "no complaint was written");
    // A bad token is refused on the sign-in page with the authentication layer's reason.
    let (status, _, body) = http(
        addr,
        &post(
            "/signin",
            &format!("cgw_signin={form_token}"),
            &format!("form_token={form_token}&token=not.a.jwt"),
        ),
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("UNAUTHENTICATED"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_sees_the_seeded_incidents_as_hotspots_and_drills_down_to_a_complaint() {
    use complaint_gateway::cases::store::CaseStore;
    use complaint_gateway::identity::directory::{Directory, IdentityFields};
    use complaint_gateway::tools::history::{generate, HistoryOptions};
    let Some(bins) = browser_or_skip("the manager dashboard test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let subscribers = 800;
    let server = gateway(dir.path(), subscribers).await;
    let gw = &server.gateway;
    // 90 days of history ending now, with its three planted incidents, written through the case store.
    let engine = complaint_gateway::diagnosis::Engine::load(complaint_gateway::diagnosis::default_dir(), None).unwrap();
    let report = generate(
        &CaseStore::new(gw.identity.store.clone()),
        &gw.cases.rules(),
        &engine,
        &gw.reader,
        &HistoryOptions {
            complaints: 5_000,
            days: 90,
            seed: 7,
            end_us: complaint_gateway::store::now_us(),
            subscribers,
        },
        &std::sync::atomic::AtomicBool::new(false),
        &|_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(report.planted.len(), 3);
    // A manager of the whole province (the demo's manager sees Hangzhou only).
    Directory::new(gw.identity.store.clone())
        .create(
            "m-zj-01",
            &IdentityFields {
                display_name: "浙江 manager".into(),
                roles: [complaint_gateway::identity::Role::Manager].into(),
                regions: ["0571", "0574", "0577", "0579"].iter().map(|s| s.to_string()).collect(),
                disabled: false,
            },
        )
        .await
        .unwrap();
    let url = base(&server);
    let b = Browser::start(&bins, 1280, 800).await;
    b.goto(&format!("{url}/signin")).await;
    b.submit("#as-m-zj-01").await;
    assert_eq!(b.path().await, "/dashboard", "a manager lands on the dashboard");
    // Each planted incident is a hotspot, its place named.
    let hotspots = b.text("#hotspots").await;
    for p in &report.planted {
        assert!(
            hotspots.contains(&p.value),
            "incident {} {} not among the hotspots: {hotspots}",
            p.dimension,
            p.value
        );
    }
    // The hotspot card says detection starts after the warm-up.
    let warm_up = b.text("#hotspot-warm-up").await;
    assert!(
        warm_up.contains("预热期") && warm_up.contains("7 天的历史"),
        "{warm_up}"
    );
    // KPIs against the seed's figures.
    let kpis = b.text("#kpis").await;
    assert!(kpis.contains("目标 80.0%") && kpis.contains("目标 54.0%"), "{kpis}");
    b.screenshot("dashboard").await;
    // Drill down: the cell outage's hotspot → one of its complaints.
    let cell = report
        .planted
        .iter()
        .find(|p| p.dimension == "cell")
        .expect("a planted cell outage");
    let n: i64 = b
        .js(&format!(
            "return [...document.querySelectorAll('article.hotspot')].findIndex(a => a.querySelector('h3').textContent.includes({:?}) || a.textContent.includes({:?}))",
            cell.value, cell.value
        ))
        .await;
    assert!(n >= 0, "no hotspot article for cell {}", cell.value);
    b.click(&format!("#chart-hotspots a[href='#hotspot-{n}']")).await;
    b.submit(&format!("#hotspot-{n} .samples a")).await;
    let id = b.text("#complaint-id").await;
    assert!(id.starts_with("CMP-"), "{id}");
    assert!(b.text("#complaint-text").await.len() > 2);
    assert_eq!(
        b.text("main dl.fields dd:nth-of-type(4)").await,
        "network.mobile_coverage"
    );
    // A day's bar (the busiest) lists the complaints created that Beijing day, every one of them.
    b.goto(&format!("{url}/dashboard")).await;
    let day: String = b
        .js("const h = (a) => Number(a.querySelector('rect').getAttribute('height')); \
             return [...document.querySelectorAll('#chart-daily a')].reduce((x, y) => (h(y) > h(x) ? y : x)).dataset.day")
        .await;
    let date = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap();
    let start = complaint_gateway::cases::calendar::local_us(date, chrono::NaiveTime::MIN);
    // Counted by region: the manager sees the four cities.
    let by_region: Vec<(String, i64)> = sqlx::query_as(
        "SELECT region, COUNT(*) FROM complaint_cases WHERE created_at_us >= $1 AND created_at_us < $2 \
         GROUP BY region ORDER BY region",
    )
    .bind(start)
    .bind(start + 86_400_000_000)
    .fetch_all(gw.identity.store.pool())
    .await
    .unwrap();
    let created: i64 = by_region
        .iter()
        .filter(|(r, _)| ["0571", "0574", "0577", "0579"].contains(&r.as_str()))
        .map(|(_, n)| n)
        .sum();
    assert!(created > 0 && created <= 200, "{by_region:?} on {day}");
    b.submit(&format!("#chart-daily a[data-day='{day}']")).await;
    assert_eq!(b.path().await, "/complaints");
    assert!(b.text("h1").await.contains(&day));
    let counts = b.text("#counts").await;
    assert!(
        counts.starts_with(&format!("共 {created} 件")),
        "{counts} (expected {created} on {day}: {by_region:?})"
    );
    // A category's bar lists its complaints; a KPI opens the complaints behind its figure.
    b.goto(&format!("{url}/dashboard")).await;
    b.submit("#chart-categories a").await;
    assert!(b.text("#complaints tbody").await.contains("CMP-"));
    b.goto(&format!("{url}/dashboard")).await;
    b.submit("#kpi-auto_detected").await;
    assert!(b.text("#drill").await.contains("CMP-"));
    b.close().await;
}
