//! Conformance suite for Tencent Cloud IM's `import_group_msg` API family.
//!
//! Clauses (`clauses.toml`) state what the documents say; cases (`cases/<id>.toml`) test them
//! through the public API of any implementation; the runner sends them over HTTP, checks the
//! answers (expectations plus automatic invariants), and reports a verdict per case.
//!
//! Code map: [`clause`] and [`case`] (file formats) → [`template`] (placeholders) → [`run`]
//! (probe, scheduling; `exec.rs` runs one case) over [`target`] (HTTP) and [`pace`] (quota) → [`check`]
//! (expectations, invariants, read-back) with [`ledger`] → [`redact`] → [`verdict`] →
//! [`report`] (text, JSON, JUnit, HTML), [`reference`] (NON-STRICT against the reference
//! server's snapshots) and [`expectations`] (known failures).

pub mod case;
pub mod check;
pub mod clause;
pub mod clock;
mod exec;
pub mod expectations;
pub mod ledger;
pub mod pace;
pub mod redact;
pub mod reference;
pub mod report;
pub mod run;
pub mod target;
pub mod template;
pub mod verdict;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use case::Case;
pub use clause::{Clause, Strength};
pub use report::{CaseReport, ClauseCoverage, Exchange, SuiteReport};
pub use run::{run, RunError, SuiteOptions};
pub use target::Target;
pub use tim_model::usersig::SecretKey;
pub use verdict::{Failure, Verdict};

/// The clause registry and every case, loaded and checked.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Every clause of `clauses.toml`.
    pub clauses: Vec<Clause>,
    /// Every case of `cases/`, ordered by ID.
    pub cases: Vec<Case>,
}

/// The suite files are missing, unreadable or invalid.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Files parse but break a rule (IDs, step shapes); every problem, one per line.
    #[error("invalid suite:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

impl Suite {
    /// Loads `dir/clauses.toml` and every `dir/cases/*.toml`.
    pub fn load(dir: &Path) -> Result<Suite, LoadError> {
        let clauses = load_clauses(&dir.join("clauses.toml"))?;
        let cases_dir = dir.join("cases");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
            .map_err(|source| LoadError::Io {
                path: cases_dir.clone(),
                source,
            })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut cases = Vec::new();
        let mut problems = Vec::new();
        let mut ids = BTreeSet::new();
        for path in files {
            let case: Case = parse_toml(&path)?;
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if stem != case.id {
                problems.push(format!(
                    "{}: id {:?} differs from the file stem",
                    path.display(),
                    case.id
                ));
            }
            if !ids.insert(case.id.clone()) {
                problems.push(format!("{}: duplicate id {:?}", path.display(), case.id));
            }
            problems.extend(
                case.validate()
                    .into_iter()
                    .map(|p| format!("{}: {p}", path.display())),
            );
            cases.push(case);
        }
        if !problems.is_empty() {
            return Err(LoadError::Invalid(problems));
        }
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Suite { clauses, cases })
    }

    /// Loads the suite shipped with this crate (`CARGO_MANIFEST_DIR`).
    pub fn load_default() -> Result<Suite, LoadError> {
        Suite::load(&Suite::default_dir())
    }

    /// The directory of the shipped suite.
    pub fn default_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// The clause with ID `id`.
    pub fn clause(&self, id: &str) -> Option<&Clause> {
        self.clauses.iter().find(|c| c.id == id)
    }
}

fn load_clauses(path: &Path) -> Result<Vec<Clause>, LoadError> {
    let file: clause::ClauseFile = parse_toml(path)?;
    Ok(file.clause)
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| LoadError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}
