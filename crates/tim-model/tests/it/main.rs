//! Integration tests of `tim-model`: spec fixtures, validation tables, UserSig vectors.

mod usersig;
