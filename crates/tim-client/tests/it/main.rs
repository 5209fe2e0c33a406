//! Integration tests of tim-client: against the reference server on loopback (`reference`), and
//! against wiremock for faults a real server cannot be made to show (`faults`).

mod faults;
mod reference;
mod resend;
mod support;
