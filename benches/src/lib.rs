//! Shared inputs for the criterion benches (and, later, the load driver).
