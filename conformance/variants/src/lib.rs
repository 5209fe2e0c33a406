//! Deliberately different servers for the conformance suite's self-check, and the self-check.
//!
//! A [`Mutant`] breaks exactly one rule a clause states (the suite must FAIL it); a [`Benign`]
//! variant is a correct but different choice the documents allow (the suite must not FAIL it).
//! None of them lives in the reference server: each is built by composing `tim-server`'s public
//! pieces ([`server`]): its readings (settings of the shipped server), a skewed clock for the API
//! rules ([`clock`]), a wrapping store ([`store`]) and a layer around its router ([`layer`]).
//! [`selfcheck`] runs the suite against each of them; the binary `tim-conformance-mutants`
//! (`cargo xtask conformance --mutants`) prints the result.

pub mod clock;
pub mod layer;
pub mod selfcheck;
pub mod server;
pub mod store;
pub mod variant;

pub use server::{means, router, Means, VariantServer};
pub use variant::{Benign, Mutant, Variant};
