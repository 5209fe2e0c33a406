//! Integration tests of tim-client: against the reference server on loopback (`reference`), with
//! faults injected through its control plane (`server_faults`), the control plane's typed client
//! (`control`), and against wiremock: what the control plane cannot be made to show (`faults`)
//! and the re-sending of calls after a lost answer (`resend`).

mod control;
mod faults;
mod reference;
mod resend;
mod server_faults;
mod support;
