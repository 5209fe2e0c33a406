//! `tim-migrate`: move group chat history into Tencent Cloud IM (placeholder while the crate is built).

fn main() {}
