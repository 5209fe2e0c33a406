//! Criterion benches of `tim-model`: what the server does with an `import_group_msg` body before
//! touching the store (decode → validate → verdict), and encoding the answer.
//!
//! Inputs come from `tim_benches` so that later benches and the load driver use the same bytes.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use tim_model::api::import_group_msg::ImportGroupMsgRequest;
use tim_model::validate::{validate_import, verdict, Context, Verdict};
use tim_model::{decode_json, Edition};

/// (a) a 20-message seed batch and (b) a 7-message current batch: decode, validate, verdict,
/// each next to a `serde_json::Value` parse of the same bytes as the baseline.
fn decode_validate_verdict(c: &mut Criterion) {
    let mut g = c.benchmark_group("import_group_msg/decode_validate_verdict");
    for edition in [Edition::Seed, Edition::Current] {
        let limits = edition.limits();
        let body = tim_benches::import_batch_json(edition);
        let group = tim_benches::group_snapshot();
        let words = tim_benches::restricted_words();
        let run = |body: &[u8]| {
            let req: ImportGroupMsgRequest = decode_json(body).expect("bench batch decodes");
            let ctx = Context {
                limits: &limits,
                group: Some(&group),
                restricted_words: &words,
                now: tim_benches::NOW,
                duplicates: &[],
            };
            let problems = validate_import(&req, ctx);
            verdict(&problems, req.msg_list.len(), &limits)
        };
        // The bench must walk the whole accept path, not stop at a rejection.
        assert!(
            matches!(run(&body), Verdict::Accept { outcomes } if outcomes.iter().all(Option::is_none))
        );

        g.throughput(Throughput::Bytes(body.len() as u64));
        let id = format!("{edition}_{}msgs_{}B", limits.msgs_per_request, body.len());
        g.bench_function(id, |b| b.iter(|| run(black_box(&body))));
        // Baseline: a plain `Value` parse of the same bytes, so the ratio reads from one run.
        g.bench_function(format!("{edition}_value_parse_baseline"), |b| {
            b.iter(|| {
                serde_json::from_slice::<serde_json::Value>(black_box(&body))
                    .expect("bench batch parses")
            })
        });
    }
    g.finish();
}

/// (c) encode a 20-result `ImportGroupMsgResponse` in its envelope to JSON bytes.
fn encode_response(c: &mut Criterion) {
    let resp = tim_benches::import_response(20);
    let len = serde_json::to_vec(&resp)
        .expect("response serializes")
        .len();
    let mut g = c.benchmark_group("import_group_msg/encode_response");
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function(format!("20_results_{len}B"), |b| {
        b.iter(|| serde_json::to_vec(black_box(&resp)).expect("response serializes"))
    });
    g.finish();
}

/// What `criterion_group!` + `criterion_main!` expand to, written out so that every item has a doc.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    decode_validate_verdict(&mut c);
    encode_response(&mut c);
    c.final_summary();
}
