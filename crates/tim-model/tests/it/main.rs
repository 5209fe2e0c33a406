//! Integration tests of `tim-model`: spec fixtures, validation tables, UserSig vectors.

mod fixtures;
mod usersig;
mod validate;
