//! The suite's self-check: the suite against every deliberately broken variant of the reference
//! server, each of which must be caught (sharpness), and against benign variants, correct
//! implementations that choose differently where the documents allow it, none of which may fail
//! (fairness). Each variant runs on a fresh in-process [`VariantServer`].
//!
//! A kill must repeat: the cases that killed a mutant run again against a fresh server of the same
//! mutant, and a kill they do not confirm is reported FLAKY and fails the self-check.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use tim_conformance::clause::Strength;
use tim_conformance::report::{CaseReport, SuiteReport};
use tim_conformance::verdict::Verdict;
use tim_conformance::{run, SecretKey, Suite, SuiteOptions, Target};
use tim_model::Edition;
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};

use crate::{Variant, VariantServer};

/// The restricted word the variants are started with, so the 80001 cases run.
pub const RESTRICTED_WORD: &str = "conformance-forbidden-word";

/// One variant run in one edition.
#[derive(Debug, Clone)]
pub struct VariantRun {
    /// The variant.
    pub variant: Variant,
    /// The edition run.
    pub edition: Edition,
    /// The suite's report, or why the run could not happen.
    pub report: Result<SuiteReport, String>,
    /// For a caught mutant: whether the killing cases, run again against a fresh server of the
    /// same mutant, caught it again (`None`: not a kill, nothing to repeat).
    pub repeated: Option<bool>,
}

impl VariantRun {
    /// How the suite caught a mutant: a case citing the clause it breaks FAILed
    /// (`Some(Strength::Must)`), or only a
    /// should-check of the clause the mutant breaks failed (`Some(Strength::Should)`: the
    /// mutant breaks a documented reading, which is all a fair suite may hold it to), or not at
    /// all (`None`). Reference-snapshot differences are not compared here: benign variants
    /// differ from the reference too.
    pub fn caught(&self) -> Option<Strength> {
        let report = self.report.as_ref().ok()?;
        let clause = self.variant.clause();
        // Only a FAIL charged to the clause the mutant breaks counts: a failed must-check of a
        // step citing it (steps cite the clauses they check, `clauses` in the case file), or an
        // automatic invariant of it. A FAIL elsewhere, even in a case that also cites the clause,
        // is a side effect, not proof that the suite checks that clause.
        let charged = |c: &CaseReport| {
            c.failures
                .iter()
                .any(|f| f.strength == Strength::Must && f.clause.split(',').any(|x| x == clause))
        };
        if report
            .cases
            .iter()
            .any(|c| c.verdict == Verdict::Fail && charged(c))
        {
            return Some(Strength::Must);
        }
        report
            .cases
            .iter()
            .flat_map(|c| &c.failures)
            .any(|f| f.strength == Strength::Should && f.clause.split(',').any(|c| c == clause))
            .then_some(Strength::Should)
    }

    /// The cases that caught the mutant: FAILs charged to its clause, or (for a should-level
    /// catch) the cases with a failed should-check of it.
    pub fn killing_cases(&self) -> Vec<String> {
        let Ok(report) = &self.report else {
            return Vec::new();
        };
        let clause = self.variant.clause();
        let cites = |f: &tim_conformance::Failure, s: Strength| {
            f.strength == s && f.clause.split(',').any(|x| x == clause)
        };
        let must: Vec<String> = report
            .cases
            .iter()
            .filter(|c| {
                c.verdict == Verdict::Fail && c.failures.iter().any(|f| cites(f, Strength::Must))
            })
            .map(|c| c.id.clone())
            .collect();
        if !must.is_empty() {
            return must;
        }
        report
            .cases
            .iter()
            .filter(|c| c.failures.iter().any(|f| cites(f, Strength::Should)))
            .map(|c| c.id.clone())
            .collect()
    }

    /// Whether the mutant was caught but the repeat did not catch it again.
    pub fn flaky(&self) -> bool {
        self.repeated == Some(false)
    }

    /// Cases that did not PASS (or SKIP).
    pub fn flagged(&self) -> Vec<&str> {
        match &self.report {
            Ok(r) => r
                .cases
                .iter()
                .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skip))
                .map(|c| c.id.as_str())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Clauses whose checks failed.
    pub fn failed_clauses(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if let Ok(r) = &self.report {
            for f in r.cases.iter().flat_map(|c| &c.failures) {
                if f.strength != Strength::Info {
                    out.extend(f.clause.split(',').map(str::to_string));
                }
            }
        }
        out
    }

    /// Whether any case FAILed or had a setup error, or the run did not happen.
    pub fn any_failed(&self) -> bool {
        match &self.report {
            Ok(r) => r.cases.iter().any(|c| c.verdict.failed()),
            Err(_) => true,
        }
    }

    /// Whether this run is as it must be: a mutant caught, a benign variant without failure.
    pub fn good(&self) -> bool {
        if self.variant.is_mutant() {
            self.caught().is_some() && !self.flaky()
        } else {
            !self.any_failed()
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Only variants whose name contains this.
    pub variant_filter: Option<String>,
    /// Only this edition (default: every edition the variant differs in).
    pub edition: Option<Edition>,
    /// Suite runs in flight at once (each against its own server).
    pub parallel: usize,
    /// Cases in flight per run.
    pub concurrency: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            variant_filter: None,
            edition: None,
            parallel: 6,
            concurrency: 16,
        }
    }
}

/// Runs the suite against every selected variant, each on a fresh in-memory reference server.
pub async fn check(suite: Arc<Suite>, opts: &CheckOptions) -> Vec<VariantRun> {
    let jobs: Vec<(Variant, Edition)> = Variant::all()
        .into_iter()
        .filter(|v| {
            opts.variant_filter
                .as_deref()
                .is_none_or(|f| v.name().contains(f))
        })
        .flat_map(|v| {
            v.editions()
                .iter()
                .copied()
                .filter(|e| opts.edition.is_none_or(|o| o == *e))
                .map(move |e| (v, e))
        })
        .collect();
    let limit = Arc::new(tokio::sync::Semaphore::new(opts.parallel.max(1)));
    let mut tasks = Vec::new();
    for (variant, edition) in jobs {
        let suite = suite.clone();
        let limit = limit.clone();
        let concurrency = opts.concurrency;
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            let report = run_server(&suite, Some(variant), edition, concurrency).await;
            let mut run = VariantRun {
                variant,
                edition,
                report,
                repeated: None,
            };
            if variant.is_mutant() && run.caught().is_some() {
                run.repeated = Some(repeat(&suite, &run, concurrency).await);
            }
            run
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => out.push(r),
            Err(e) => panic!("a variant run panicked: {e}"),
        }
    }
    out
}

/// The control runs: the unmodified reference server, under the same conditions as the variants
/// (in process, memory store, the same concurrency), once per edition. If the reference itself
/// fails here, a kill proves nothing: the self-check fails.
pub async fn control(
    suite: Arc<Suite>,
    opts: &CheckOptions,
) -> Vec<(Edition, Result<SuiteReport, String>)> {
    let mut out = Vec::new();
    for edition in [Edition::Seed, Edition::Current] {
        if opts.edition.is_some_and(|e| e != edition) {
            continue;
        }
        out.push((
            edition,
            run_server(&suite, None, edition, opts.concurrency).await,
        ));
    }
    out
}

/// Runs the cases that caught `run`'s mutant again, against a fresh server of the same mutant:
/// whether they catch it again.
async fn repeat(suite: &Suite, run: &VariantRun, concurrency: usize) -> bool {
    let ids: BTreeSet<String> = run.killing_cases().into_iter().collect();
    let again = Suite {
        clauses: suite.clauses.clone(),
        cases: suite
            .cases
            .iter()
            .filter(|c| ids.contains(&c.id))
            .cloned()
            .collect(),
    };
    let report = run_server(&again, Some(run.variant), run.edition, concurrency).await;
    VariantRun {
        report,
        repeated: None,
        ..run.clone()
    }
    .caught()
    .is_some()
}

async fn run_server(
    suite: &Suite,
    variant: Option<Variant>,
    edition: Edition,
    concurrency: usize,
) -> Result<SuiteReport, String> {
    let mut config = ServerConfig::development(DataLocation::Memory);
    config.limits = edition.limits();
    config.restricted_words = vec![RESTRICTED_WORD.to_string()];
    // No reference-snapshot comparison: a variant's NON-STRICT must come from a should-check.
    let server = VariantServer::start(config, variant)
        .await
        .map_err(|e| format!("cannot start the server: {e:#}"))?;
    let target = Target {
        base_url: server.url(),
        sdkappid: DEV_SDKAPPID,
        identifier: DEV_ADMIN.to_string(),
        secret_key: SecretKey::new(DEV_SECRET_KEY),
    };
    let opts = SuiteOptions {
        edition,
        filter: None,
        restricted_word: Some(RESTRICTED_WORD.to_string()),
        concurrency,
        ..SuiteOptions::default()
    };
    run(suite, &target, &opts).await.map_err(|e| e.to_string())
}

/// The verdict of the whole check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Mutants caught in every edition they apply to.
    pub killed: usize,
    /// Mutants not caught in some edition.
    pub survived: usize,
    /// Benign variants without a FAIL.
    pub benign_passed: usize,
    /// Benign variants with a FAIL or SETUP-ERROR.
    pub benign_failed: usize,
    /// Mutants caught once, but not again when the killing cases ran a second time.
    pub flaky: usize,
}

impl Tally {
    /// Whether every mutant was caught and no benign variant failed.
    pub fn ok(&self) -> bool {
        self.survived == 0 && self.benign_failed == 0 && self.flaky == 0
    }
}

/// Counts the outcome per variant (a mutant is killed only when caught in each of its editions).
pub fn tally(runs: &[VariantRun]) -> Tally {
    let mut per: BTreeMap<Variant, (bool, bool)> = BTreeMap::new();
    for r in runs {
        let e = per.entry(r.variant).or_insert((true, false));
        e.0 &= r.good();
        e.1 |= r.flaky();
    }
    let mut t = Tally {
        killed: 0,
        survived: 0,
        benign_passed: 0,
        benign_failed: 0,
        flaky: 0,
    };
    for (v, (good, flaky)) in per {
        match (v.is_mutant(), good) {
            (true, _) if flaky => t.flaky += 1,
            (true, true) => t.killed += 1,
            (true, false) => t.survived += 1,
            (false, true) => t.benign_passed += 1,
            (false, false) => t.benign_failed += 1,
        }
    }
    t
}

/// The human report: per-variant lines, then the clause × mutant matrix, then the totals.
pub fn render(runs: &[VariantRun]) -> String {
    let mut out = String::new();
    let mutants: Vec<Variant> = unique(runs.iter().map(|r| r.variant).filter(|v| v.is_mutant()));
    let benign: Vec<Variant> = unique(runs.iter().map(|r| r.variant).filter(|v| !v.is_mutant()));
    let _ = writeln!(
        out,
        "Mutants (each must be caught, and caught again when its killing cases run a second time; KILLED* = caught by a should-check of the should clause it breaks; FLAKY = not caught again):"
    );
    for (i, v) in mutants.iter().enumerate() {
        let mine: Vec<&VariantRun> = runs.iter().filter(|r| r.variant == *v).collect();
        let caught = mine.iter().all(|r| r.good());
        let flaky = mine.iter().any(|r| r.flaky());
        let weak = mine.iter().any(|r| r.caught() == Some(Strength::Should));
        let detail: Vec<String> = mine
            .iter()
            .map(|r| match &r.report {
                Ok(_) => {
                    let f = r.flagged();
                    let mut ids: Vec<&str> = f.iter().copied().take(3).collect();
                    if f.len() > 3 {
                        ids.push("…");
                    }
                    format!(
                        "{}: {} case(s) [{}]",
                        edition_name(r.edition),
                        f.len(),
                        ids.join(", ")
                    )
                }
                Err(e) => format!("{}: not run ({e})", edition_name(r.edition)),
            })
            .collect();
        let _ = writeln!(
            out,
            "  M{:02} {:<34} {:<8} {:<8} breaks {:<26} {}",
            i + 1,
            v.name(),
            crate::means(*v).name(),
            match (caught, weak, flaky) {
                (_, _, true) => "FLAKY",
                (true, false, _) => "KILLED",
                (true, true, _) => "KILLED*",
                (false, _, _) => "SURVIVED",
            },
            v.clause(),
            detail.join("; ")
        );
    }
    let _ = writeln!(
        out,
        "\nBenign variants (none may fail; every reading setting of the reference server is checked by `cargo xtask conformance --readings`):"
    );
    for (i, v) in benign.iter().enumerate() {
        let mine: Vec<&VariantRun> = runs.iter().filter(|r| r.variant == *v).collect();
        let failed = mine.iter().any(|r| r.any_failed());
        let detail: Vec<String> = mine
            .iter()
            .map(|r| match &r.report {
                Ok(rep) => {
                    let t = rep.tally();
                    let bad: Vec<&str> = rep
                        .cases
                        .iter()
                        .filter(|c| c.verdict.failed())
                        .map(|c| c.id.as_str())
                        .collect();
                    let mut s = format!(
                        "{}: {} passed ({} non-strict), {} failed",
                        edition_name(r.edition),
                        t.passed(),
                        t.non_strict,
                        t.failed()
                    );
                    if !bad.is_empty() {
                        let _ = write!(s, " [{}]", bad.join(", "));
                    }
                    s
                }
                Err(e) => format!("{}: not run ({e})", edition_name(r.edition)),
            })
            .collect();
        let _ = writeln!(
            out,
            "  B{:02} {:<34} {:<8} {:<8} {}",
            i + 1,
            v.name(),
            crate::means(*v).name(),
            if failed { "FAILED" } else { "PASSED" },
            detail.join("; ")
        );
    }
    // The matrix: one row per clause that some mutant made fail, one column per mutant.
    let mut rows: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (i, v) in mutants.iter().enumerate() {
        for r in runs.iter().filter(|r| r.variant == *v) {
            for c in r.failed_clauses() {
                rows.entry(c).or_default().insert(i);
            }
        }
    }
    if !mutants.is_empty() {
        let _ = writeln!(
            out,
            "\nClause x mutant kill matrix (X: a check of the clause failed on the mutant; * the clause the mutant breaks):"
        );
        let width = rows.keys().map(String::len).max().unwrap_or(6).max(6);
        let mut head = format!("  {:<width$} ", "clause");
        for i in 0..mutants.len() {
            let _ = write!(head, "{:>3}", (i + 1) % 100);
        }
        let _ = writeln!(out, "{}", head.trim_end());
        for (clause, hit) in &rows {
            let mut line = format!("  {clause:<width$} ");
            for (i, v) in mutants.iter().enumerate() {
                let cell = match (hit.contains(&i), v.clause() == clause) {
                    (true, true) => "X*",
                    (true, false) => "X",
                    (false, true) => "*",
                    (false, false) => ".",
                };
                let _ = write!(line, "{cell:>3}");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    let t = tally(runs);
    let _ = writeln!(
        out,
        "\n{} mutants: {} killed, {} survived, {} flaky; {} benign variants: {} passed, {} failed",
        t.killed + t.survived + t.flaky,
        t.killed,
        t.survived,
        t.flaky,
        t.benign_passed + t.benign_failed,
        t.benign_passed,
        t.benign_failed
    );
    out
}

fn unique(it: impl Iterator<Item = Variant>) -> Vec<Variant> {
    let mut seen = BTreeSet::new();
    it.filter(|v| seen.insert(*v)).collect()
}

fn edition_name(e: Edition) -> &'static str {
    match e {
        Edition::Seed => "seed",
        Edition::Current => "current",
    }
}
