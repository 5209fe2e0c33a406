//! Writes a test corpus for `tim-migrate`: messages.jsonl, groups.jsonl and members.jsonl.
//!
//! `cargo run -p tim-migrate --example gen-corpus -- --groups 30 --messages 5000 --out DIR [--bad N] [--seed S]`

use std::path::PathBuf;

use clap::Parser;
use tim_migrate::corpus::{self, CorpusOptions};

/// Flags of the generator.
#[derive(Debug, Parser)]
#[command(about = "Write a tim-migrate test corpus (see tim_migrate::corpus)")]
struct Args {
    /// Number of groups.
    #[arg(long, default_value_t = 30)]
    groups: usize,
    /// Number of good messages.
    #[arg(long, default_value_t = 5000)]
    messages: u64,
    /// Extra messages the server would reject (too long, or before CreateTime).
    #[arg(long, default_value_t = 0)]
    bad: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let c = corpus::write(
        &a.out,
        &CorpusOptions {
            groups: a.groups,
            messages: a.messages,
            bad: a.bad,
            seed: a.seed,
            ..CorpusOptions::default()
        },
    )?;
    println!(
        "wrote {} ({} lines), {}, {} ({} lines)",
        c.messages.display(),
        c.message_lines,
        c.groups.display(),
        c.members.display(),
        c.member_lines
    );
    Ok(())
}
