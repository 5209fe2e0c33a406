//! Integration tests of tim-client: against the reference server on loopback (`reference`), and
//! against wiremock for faults a real server cannot be made to show (`faults`), and the reference
//! server's control plane (`control`).

mod control;
mod faults;
mod reference;
mod resend;
mod support;
