//! The clause/case lint (issue 7, item 3): case files parse, IDs are unique and equal to the file
//! stem, cited clauses exist, every `must` clause has a case, every case cites a clause, and every
//! placeholder resolves in each edition the case applies to.

use std::collections::BTreeSet;

use tim_conformance::case::dry_run;
use tim_conformance::clause::auto;
use tim_conformance::{Strength, Suite};

fn suite() -> Suite {
    Suite::load_default().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn clause_ids_are_unique_and_well_formed() {
    let s = suite();
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for c in &s.clauses {
        if !seen.insert(c.id.as_str()) {
            problems.push(format!("duplicate clause {}", c.id));
        }
        let upper =
            c.id.chars()
                .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '-');
        if !upper || c.id.starts_with('-') || c.id.ends_with('-') {
            problems.push(format!("clause {} is not UPPER-KEBAB", c.id));
        }
        if c.strength == Strength::Should && c.reading.is_none() {
            problems.push(format!("should clause {} names no reading", c.id));
        }
        if c.editions.is_empty() {
            problems.push(format!("clause {} applies to no edition", c.id));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn cited_clauses_exist_and_every_case_cites_one() {
    let s = suite();
    let mut problems = Vec::new();
    for case in &s.cases {
        if case.clauses.is_empty() {
            problems.push(format!("{} cites no clause", case.id));
        }
        for id in &case.clauses {
            if s.clause(id).is_none() {
                problems.push(format!("{} cites unknown clause {id}", case.id));
            }
        }
    }
    for id in auto::ALL {
        if s.clause(id).is_none() {
            problems.push(format!("automatic clause {id} is not in clauses.toml"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_must_clause_has_a_case_in_each_of_its_editions() {
    let s = suite();
    let automatic: BTreeSet<&str> = auto::ALL.into_iter().collect();
    let mut problems = Vec::new();
    for c in s.clauses.iter().filter(|c| c.strength == Strength::Must) {
        for e in &c.editions {
            let covered = automatic.contains(c.id.as_str())
                || s.cases
                    .iter()
                    .any(|case| case.applies_to(*e) && case.clauses.contains(&c.id));
            if !covered {
                problems.push(format!("must clause {} has no case in edition {e}", c.id));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn placeholders_resolve_in_every_edition() {
    let s = suite();
    let mut problems = Vec::new();
    for case in &s.cases {
        for e in &case.editions {
            problems.extend(
                dry_run(case, *e)
                    .into_iter()
                    .map(|p| format!("{} ({e}): {p}", case.id)),
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
