//! Property tests with a fixed budget, run by `cargo test`: every request type's decode → validate path
//! (arbitrary bytes, and well-formed messages with arbitrary field values, sent to a real server), and
//! scenario and adapter files mutated at random. The property: no panic, and a request is never
//! answered INTERNAL or UNKNOWN (bad input is the caller's mistake, said as such); the server keeps
//! answering. Budget: `CASES` cases per property (raise it locally with PROPTEST_CASES).
mod identity_support;

use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, with_token};
use proptest::prelude::*;
use prost::Message;
use std::sync::OnceLock;
use tonic::Code;

const CASES: u32 = 48;

/// Every RPC of the gateway's own services.
const METHODS: &[&str] = &[
    "/complaint.v1.ComplaintDataService/GetSubscriberView",
    "/complaint.v1.ComplaintDataService/StreamUsage",
    "/complaint.v1.DiagnosisService/Diagnose",
    "/complaint.v1.DiagnosisService/Classify",
    "/complaint.v1.DiagnosisService/ListScenarios",
    "/complaint.v1.DiagnosisService/GetScenario",
    "/complaint.v1.GatewayAdminService/InvalidateSubscriber",
    "/complaint.v1.IdentityAdminService/GetCurrentIdentity",
    "/complaint.v1.IdentityAdminService/CreateIdentity",
    "/complaint.v1.IdentityAdminService/UpdateIdentity",
    "/complaint.v1.IdentityAdminService/GetIdentity",
    "/complaint.v1.IdentityAdminService/ListIdentities",
    "/complaint.v1.IdentityAdminService/SetOperatorId",
    "/complaint.v1.IdentityAdminService/DeleteOperatorId",
    "/complaint.v1.AuditService/ListAuditEvents",
    "/complaint.v1.ComplaintService/CreateComplaint",
    "/complaint.v1.ComplaintService/GetComplaint",
    "/complaint.v1.ComplaintService/ListComplaints",
    "/complaint.v1.ComplaintService/AssignComplaint",
    "/complaint.v1.ComplaintService/TransitionComplaint",
    "/complaint.v1.ComplaintService/AddComplaintNote",
    "/complaint.v1.ComplaintService/RecordReply",
    "/complaint.v1.ComplaintService/RecordReturnVisit",
    "/complaint.v1.ComplaintService/ReopenComplaint",
    "/complaint.v1.ComplaintService/GetSubscriberHistory",
];

struct Shared {
    rt: tokio::runtime::Runtime,
    /// Keeps the server (and its seeded backends) alive for the whole run.
    _env: identity_support::Env,
    channel: tonic::transport::Channel,
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (env, channel) = rt.block_on(async {
            let env = identity_support::start(|c, _| {
                // The fuzzer sends thousands of calls from one address with one token.
                c.auth.rate_limit_per_minute = 0;
                c.server.unauthenticated_per_minute = 0;
            })
            .await;
            let channel = identity_support::channel(&env.srv).await;
            (env, channel)
        });
        Shared { rt, _env: env, channel }
    })
}

mod raw {
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    /// Sends bytes as they are; ignores what comes back (only the status matters).
    #[derive(Default)]
    pub struct Raw;
    pub struct RawEncoder;
    pub struct Ignore;

    impl Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            use bytes::BufMut;
            buf.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for Ignore {
        type Item = ();
        type Error = tonic::Status;
        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
            use bytes::Buf;
            buf.advance(buf.remaining());
            Ok(Some(()))
        }
    }

    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = ();
        type Encoder = RawEncoder;
        type Decoder = Ignore;
        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }
        fn decoder(&mut self) -> Ignore {
            Ignore
        }
    }
}

/// Sends `bytes` as the one request message of `method`, as the all-roles test caller; the status (OK
/// when the call succeeded), after draining a streamed answer.
fn call(method: &'static str, bytes: Vec<u8>) -> Code {
    let s = shared();
    s.rt.block_on(async {
        let mut grpc = tonic::client::Grpc::new(s.channel.clone());
        grpc.ready().await.unwrap();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
        let req = with_token(futures::stream::iter([bytes]), &testkit::admin_token());
        match grpc.streaming(req, path, raw::Raw).await {
            Ok(resp) => {
                let mut stream = resp.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(())) => continue,
                        Ok(None) => return Code::Ok,
                        Err(e) => return e.code(),
                    }
                }
            }
            Err(e) => e.code(),
        }
    })
}

fn acceptable(code: Code) -> bool {
    !matches!(code, Code::Internal | Code::Unknown)
}

/// Text a fuzzer should try: any Unicode, digits of every script, controls, format characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9+\\- ]{0,20}",
        "[\u{FF10}-\u{FF19}\u{FF0B}\u{3000}]{0,16}",
        "\\PC{0,40}",
        "[\u{0}-\u{1f}\u{200b}-\u{200f}\u{202a}-\u{202e}\u{2066}-\u{2069}a-z]{0,12}",
        Just("13800138000".to_string()),
        Just("1".repeat(5000)),
    ]
}

fn ts() -> impl Strategy<Value = Option<prost_types::Timestamp>> {
    proptest::option::of(
        (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_to_any_method_are_never_an_internal_error(
        m in 0..METHODS.len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let code = call(METHODS[m], bytes);
        prop_assert!(acceptable(code), "{}: {code:?}", METHODS[m]);
    }

    #[test]
    fn view_requests_with_arbitrary_fields_are_validated(
        msisdn in text(), purpose in text(), sources in proptest::collection::vec(text(), 0..4),
        max_staleness_ms in any::<u32>(), cache_mode in any::<i32>(),
    ) {
        let r = GetSubscriberViewRequest { msisdn, purpose, sources, max_staleness_ms, cache_mode };
        let code = call(METHODS[0], r.encode_to_vec());
        prop_assert!(acceptable(code), "{code:?}");
    }

    #[test]
    fn usage_requests_with_arbitrary_fields_are_validated(
        msisdn in text(), purpose in text(), from in ts(), to in ts(),
        kinds in proptest::collection::vec(any::<i32>(), 0..4),
    ) {
        let r = StreamUsageRequest { msisdn, purpose, from, to, kinds };
        let code = call(METHODS[1], r.encode_to_vec());
        prop_assert!(acceptable(code), "{code:?}");
    }

    #[test]
    fn diagnosis_requests_with_arbitrary_fields_are_validated(
        msisdn in text(), text_ in text(), category in text(), complaint_id in text(),
        answers in proptest::collection::vec((text(), text()), 0..3),
        scenario in text(), dry_run in any::<bool>(),
    ) {
        let r = DiagnoseRequest {
            msisdn,
            text: text_.clone(),
            category,
            complaint_id,
            answers: answers.into_iter().map(|(question_id, value)| Answer { question_id, value }).collect(),
            dry_run,
            now: None,
        };
        let code = call(METHODS[2], r.encode_to_vec());
        prop_assert!(acceptable(code), "Diagnose: {code:?}");
        let code = call(METHODS[3], ClassifyRequest { text: text_ }.encode_to_vec());
        prop_assert!(acceptable(code), "Classify: {code:?}");
        let code = call(METHODS[5], GetScenarioRequest { id: scenario }.encode_to_vec());
        prop_assert!(acceptable(code), "GetScenario: {code:?}");
    }

    #[test]
    fn admin_and_identity_requests_with_arbitrary_fields_are_validated(
        msisdn in text(), sources in proptest::collection::vec(text(), 0..3),
        id in text(), name in text(), regions in proptest::collection::vec(text(), 0..3),
        roles in proptest::collection::vec(any::<i32>(), 0..3),
        system in text(), city in text(), operator_id in text(), page_size in any::<i32>(),
        outcome in any::<i32>(), from in ts(), to in ts(),
    ) {
        let inv = InvalidateSubscriberRequest { msisdn: msisdn.clone(), sources };
        prop_assert!(acceptable(call(METHODS[6], inv.encode_to_vec())));
        let create = CreateIdentityRequest { id: id.clone(), display_name: name, roles, regions };
        prop_assert!(acceptable(call(METHODS[8], create.encode_to_vec())));
        let set = SetOperatorIdRequest {
            identity_id: id.clone(),
            operator_id: Some(OperatorId { system, city, operator_id: operator_id.clone() }),
        };
        prop_assert!(acceptable(call(METHODS[12], set.encode_to_vec())));
        let list = ListAuditEventsRequest { caller: id, msisdn, from, to, outcome, page_size, page_token: operator_id };
        prop_assert!(acceptable(call(METHODS[14], list.encode_to_vec())));
    }
}

// ---- scenario and adapter files ------------------------------------------------------------------------

/// A random edit of a text file: cut a span, insert text, or replace a line.
fn mutate(original: &str, op: u8, at: usize, len: usize, insert: &str) -> String {
    let chars: Vec<char> = original.chars().collect();
    let at = at % (chars.len() + 1);
    let end = (at + len).min(chars.len());
    let mut out: String;
    match op % 4 {
        0 => {
            out = chars[..at].iter().collect();
            out.extend(&chars[end..]);
        }
        1 => {
            out = chars[..at].iter().collect();
            out.push_str(insert);
            out.extend(&chars[at..]);
        }
        2 => {
            let lines: Vec<&str> = original.lines().collect();
            let i = at % lines.len().max(1);
            out = lines
                .iter()
                .enumerate()
                .map(|(j, l)| if j == i { insert } else { l })
                .collect::<Vec<_>>()
                .join("\n");
        }
        _ => {
            // Swap two spans: keys and values out of place.
            let mid = (at + end) / 2;
            out = chars[..at].iter().collect();
            out.extend(&chars[mid..end]);
            out.extend(&chars[at..mid]);
            out.extend(&chars[end..]);
        }
    }
    out
}

fn toml_bits() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        Just("[[steps]]".to_string()),
        Just("when = \"view.account.balance_fen <\"".to_string()),
        Just("when = \"size(view.recent_bills) > 0 && view.recent_bills[99].total_fen\"".to_string()),
        Just("reply = \"{{ view.account.balance_fen | money }} {% for x in %}\"".to_string()),
        Just("path = \"customer.region_code.x\"".to_string()),
        Just("sql = \"SELECT :nope\"".to_string()),
        Just("= = =".to_string()),
        Just("id = 1".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_scenario_files_load_or_fail_with_an_error(
        file in 0usize..26, op in any::<u8>(), at in any::<usize>(), len in 0usize..200, insert in toml_bits(),
    ) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let path = &files[file % files.len()];
        let original = std::fs::read_to_string(path).unwrap();
        let text = mutate(&original, op, at, len, &insert);
        let opts = complaint_gateway::diagnosis::load::LoadOptions::default();
        let r = complaint_gateway::diagnosis::load::load_texts(&[("x.toml".into(), text)], &dir, &opts);
        if let Err(e) = r {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn mutated_adapter_definitions_load_or_fail_with_an_error(
        system in 0usize..3, sql in any::<bool>(), op in any::<u8>(), at in any::<usize>(), len in 0usize..200,
        insert in toml_bits(),
    ) {
        let name = ["billing", "crm", "resource"][system];
        let src = testkit::adapters_dir().join(name);
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join(name);
        std::fs::create_dir_all(&dst).unwrap();
        let mut sqls = Vec::new();
        for e in std::fs::read_dir(&src).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "sql") {
                sqls.push(p.file_name().unwrap().to_owned());
            }
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
        sqls.sort();
        let target = if sql && !sqls.is_empty() {
            dst.join(&sqls[at % sqls.len()])
        } else {
            dst.join("adapter.toml")
        };
        let original = std::fs::read_to_string(&target).unwrap();
        std::fs::write(&target, mutate(&original, op, at, len, &insert)).unwrap();
        if let Err(e) = complaint_gateway::adapters::sql::definition::Definition::load(&dst) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}
