//! Reference server (under construction).
