//! Ordering the messages input with bounded memory (external sort).
//!
//! [`Prepared::build`] reads the messages file once, sorts runs of at most
//! [`PrepareOptions::run_records`] records (or [`PrepareOptions::run_bytes`] bytes of input) in
//! memory, spills each run to an anonymous temporary file, and k-way merges the runs (in several
//! passes when there are more than [`PrepareOptions::fan_in`]) into one prepared file sorted by
//! (`GroupId`, `SendTime`, line). During the final merge every message gets its deterministic
//! `Random` ([`crate::random`]), so readers see final values and a resumed import can skip the
//! messages already confirmed without recomputing anything.
//!
//! The sort pass also hashes the whole file (SHA-256, [`Prepared::sha256`]) for the checkpoint.
//!
//! The result keeps an in-memory index with one [`GroupSlice`] per group (about 100 bytes each) and
//! the prepared file (deleted when the [`Prepared`] is dropped). [`Prepared::read_group`] opens an
//! independent reader per call, so several groups can be streamed concurrently.
//!
//! Peak memory: one run (bounded by `run_bytes` of input lines plus ~100 bytes of overhead per
//! record), plus `fan_in` read buffers of 16 KiB during merges, plus the group index (and the set of
//! groups that supply `Random`s), plus the supplied `Random`s of one group ([`crate::random`],
//! "Memory"). A group that supplies `Random`s is written twice in the final pass (through a
//! temporary file), since its derived values must avoid every supplied one.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tim_model::api::import_group_msg::ImportMsg;

use crate::input::{self, InputError, LineError, MessageLine, Record};
use crate::random::{Collision, RandomAssigner, RandomOptions, Seed, SpaceExhausted};

/// Default largest run, in records.
pub const DEFAULT_RUN_RECORDS: usize = 100_000;
/// Default largest run, in bytes of input lines.
pub const DEFAULT_RUN_BYTES: usize = 8 << 20;
/// Default number of runs merged at once.
pub const DEFAULT_FAN_IN: usize = 64;
const MERGE_BUFFER: usize = 16 * 1024;

/// Settings of [`Prepared::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareOptions {
    /// Most records sorted in memory at once (at least 1).
    pub run_records: usize,
    /// Most bytes of input lines sorted in memory at once.
    pub run_bytes: usize,
    /// Most runs merged in one pass (at least 2).
    pub fan_in: usize,
    /// Directory of the temporary files; `None` uses the system's (`TMPDIR`).
    pub temp_dir: Option<PathBuf>,
    /// How `Random`s are derived.
    pub random: RandomOptions,
}

impl Default for PrepareOptions {
    /// Sized for a small, flat footprint: `tim-migrate check` peaked at 26 MB RSS on 1,000,000 messages.
    fn default() -> Self {
        PrepareOptions {
            run_records: DEFAULT_RUN_RECORDS,
            run_bytes: DEFAULT_RUN_BYTES,
            fan_in: DEFAULT_FAN_IN,
            temp_dir: None,
            random: RandomOptions::new(tim_model::Limits::default().dedup_window_secs),
        }
    }
}

/// Why the messages could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The messages file could not be read, or a line did not decode.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A temporary file could not be written or read.
    #[error("temporary file")]
    Temp(#[source] io::Error),
    /// A temporary file did not contain what was written (disk or filesystem fault).
    #[error("temporary file is corrupt: {0}")]
    Corrupt(String),
    /// A `Random` could not be derived.
    #[error(transparent)]
    Random(#[from] SpaceExhausted),
}

/// Where one group's messages are in the prepared file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSlice {
    /// The group.
    pub group_id: String,
    /// Byte offset of the group's first record.
    pub offset: u64,
    /// Length in bytes of the group's records.
    pub bytes: u64,
    /// Number of messages.
    pub count: u64,
    /// `SendTime` of the first message.
    pub first_send_time: i64,
    /// `SendTime` of the last message.
    pub last_send_time: i64,
}

/// A message of a group's ordered stream.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedMsg {
    /// 1-based line number in the messages file.
    pub line: u64,
    /// The message to send; `random` is always set.
    pub msg: ImportMsg,
    /// The input's `SourceId`, if any.
    pub source_id: Option<String>,
    /// The original input line (for the rejects file).
    pub raw: String,
}

/// A supplied-`Random` collision of one group (see [`crate::random::Collision`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCollision {
    /// The group.
    pub group_id: String,
    /// The collision; `first` and `second` are line numbers.
    pub collision: Collision,
}

/// Figures about one build, for tests and measurements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Messages in the prepared file.
    pub messages: u64,
    /// Lines skipped because they did not decode.
    pub skipped_lines: u64,
    /// Runs written to temporary files.
    pub runs: u64,
    /// Merge passes, the final one included.
    pub merge_passes: u64,
    /// Most records held in one run.
    pub max_run_records: u64,
    /// Most supplied `Random`s held for one group ([`crate::random`], "Memory").
    pub max_window: u64,
}

/// The messages input, ordered per group, with final `Random`s.
#[derive(Debug)]
pub struct Prepared {
    file: NamedTempFile,
    source: String,
    groups: Vec<GroupSlice>,
    collisions: Vec<GroupCollision>,
    collision_count: u64,
    stats: BuildStats,
    sha256: String,
}

/// One record of a run: the sort key, the seed and the original line.
#[derive(Debug, PartialEq, Eq)]
struct Spill {
    group_id: String,
    send_time: i64,
    line: u64,
    seed: String,
    raw: String,
}

impl Spill {
    fn key(&self) -> (&str, i64, u64) {
        (&self.group_id, self.send_time, self.line)
    }

    fn write(&self, w: &mut impl Write) -> io::Result<()> {
        let gid = serde_json::to_string(&self.group_id).map_err(io::Error::other)?;
        writeln!(
            w,
            "{gid}\t{}\t{}\t{}\t{}",
            self.send_time, self.line, self.seed, self.raw
        )
    }

    fn parse(text: &str) -> Result<Spill, PrepareError> {
        let bad = || PrepareError::Corrupt(format!("bad run record {:.60?}", text));
        let mut it = text.splitn(5, '\t');
        let gid = it.next().ok_or_else(bad)?;
        let group_id: String = serde_json::from_str(gid).map_err(|_| bad())?;
        let send_time = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let line = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let seed = it.next().ok_or_else(bad)?.to_owned();
        let raw = it.next().ok_or_else(bad)?.to_owned();
        Ok(Spill {
            group_id,
            send_time,
            line,
            seed,
            raw,
        })
    }
}

/// A sorted run on disk, read one record at a time.
struct RunReader {
    reader: BufReader<File>,
    buf: String,
}

impl RunReader {
    fn new(mut file: File) -> Result<Self, PrepareError> {
        file.seek(SeekFrom::Start(0)).map_err(PrepareError::Temp)?;
        Ok(RunReader {
            reader: BufReader::with_capacity(MERGE_BUFFER, file),
            buf: String::new(),
        })
    }

    fn next(&mut self) -> Result<Option<Spill>, PrepareError> {
        self.buf.clear();
        let n = self
            .reader
            .read_line(&mut self.buf)
            .map_err(PrepareError::Temp)?;
        if n == 0 {
            return Ok(None);
        }
        let text = self.buf.strip_suffix('\n').unwrap_or(&self.buf);
        Spill::parse(text).map(Some)
    }
}

/// Heap entry: the head record of a run, ordered so that the smallest key pops first.
struct Head {
    rec: Spill,
    run: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .rec
            .key()
            .cmp(&self.rec.key())
            .then(other.run.cmp(&self.run))
    }
}

/// Merges sorted runs, passing records in key order to `sink`.
fn merge(
    runs: Vec<File>,
    sink: &mut impl FnMut(Spill) -> Result<(), PrepareError>,
) -> Result<(), PrepareError> {
    let mut readers = runs
        .into_iter()
        .map(RunReader::new)
        .collect::<Result<Vec<_>, _>>()?;
    let mut heap = BinaryHeap::with_capacity(readers.len());
    for (run, r) in readers.iter_mut().enumerate() {
        if let Some(rec) = r.next()? {
            heap.push(Head { rec, run });
        }
    }
    while let Some(Head { rec, run }) = heap.pop() {
        if let Some(next) = readers[run].next()? {
            heap.push(Head { rec: next, run });
        }
        sink(rec)?;
    }
    Ok(())
}

/// Hashes every byte read through it.
struct HashRead<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
}

impl<R: Read> Read for HashRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn temp_file(dir: Option<&Path>) -> Result<File, PrepareError> {
    match dir {
        Some(d) => tempfile::tempfile_in(d),
        None => tempfile::tempfile(),
    }
    .map_err(PrepareError::Temp)
}

fn spill(run: &mut Vec<Spill>, dir: Option<&Path>) -> Result<File, PrepareError> {
    run.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
    let file = temp_file(dir)?;
    let mut w = BufWriter::with_capacity(64 * 1024, file);
    for rec in run.drain(..) {
        rec.write(&mut w).map_err(PrepareError::Temp)?;
    }
    w.into_inner()
        .map_err(|e| PrepareError::Temp(e.into_error()))
}

/// The `Random` assigner of the group being written; payload: (line, raw line).
type Assigner = RandomAssigner<(u64, String)>;

/// Writes the prepared file: `line \t random \t raw` per message, groups contiguous.
///
/// A group that supplies `Random`s (known from the input pass) is first buffered in a temporary
/// file while its supplied values are collected, since a derived value must differ from every one
/// of them, even one that comes later in the stream; a group without any is written straight away.
struct Writer {
    out: BufWriter<File>,
    offset: u64,
    groups: Vec<GroupSlice>,
    collisions: Vec<GroupCollision>,
    collision_count: u64,
    current: Option<(Assigner, GroupSlice)>,
    random: RandomOptions,
    messages: u64,
    max_window: u64,
    /// Groups with at least one supplied `Random`.
    with_supplied: HashSet<String>,
    /// The current group's records and supplied values, when it is in `with_supplied`.
    buffered: Option<(BufWriter<File>, Vec<i64>)>,
    temp_dir: Option<PathBuf>,
}

impl Writer {
    fn push(&mut self, rec: Spill) -> Result<(), PrepareError> {
        self.messages += 1;
        if self.current.as_ref().map(|(_, g)| g.group_id.as_str()) != Some(&rec.group_id) {
            self.finish_group()?;
            let slice = GroupSlice {
                group_id: rec.group_id.clone(),
                offset: self.offset,
                bytes: 0,
                count: 0,
                first_send_time: rec.send_time,
                last_send_time: rec.send_time,
            };
            self.current = Some((
                RandomAssigner::new(rec.group_id.clone(), self.random),
                slice,
            ));
            if self.with_supplied.contains(&rec.group_id) {
                let file = temp_file(self.temp_dir.as_deref())?;
                self.buffered = Some((BufWriter::with_capacity(64 * 1024, file), Vec::new()));
            }
        }
        let (_, slice) = self.current.as_mut().expect("set above");
        slice.count += 1;
        slice.last_send_time = rec.send_time;
        if let Some((w, supplied)) = self.buffered.as_mut() {
            if let Some(Seed::Supplied(r)) = Seed::decode(&rec.seed) {
                supplied.push(r);
            }
            return rec.write(w).map_err(PrepareError::Temp);
        }
        self.assign(rec)
    }

    /// Gives `rec` its `Random` and writes it to the prepared file.
    fn assign(&mut self, rec: Spill) -> Result<(), PrepareError> {
        let seed = Seed::decode(&rec.seed)
            .ok_or_else(|| PrepareError::Corrupt(format!("bad seed {:?}", rec.seed)))?;
        let (assigner, _) = self.current.as_mut().expect("a group is open");
        let out = &mut self.out;
        let offset = &mut self.offset;
        let mut err = None;
        assigner.push(
            rec.send_time,
            rec.line,
            seed,
            (rec.line, rec.raw),
            &mut |a| {
                if err.is_none() {
                    err = write_prepared(out, offset, a.payload.0, a.random, &a.payload.1).err();
                }
            },
        )?;
        err.map_or(Ok(()), |e| Err(PrepareError::Temp(e)))
    }

    fn finish_group(&mut self) -> Result<(), PrepareError> {
        if let Some((w, supplied)) = self.buffered.take() {
            let file = w
                .into_inner()
                .map_err(|e| PrepareError::Temp(e.into_error()))?;
            if let Some((assigner, _)) = self.current.as_mut() {
                assigner.reserve_supplied(supplied);
            }
            let mut reader = RunReader::new(file)?;
            while let Some(rec) = reader.next()? {
                self.assign(rec)?;
            }
        }
        let Some((mut assigner, mut slice)) = self.current.take() else {
            return Ok(());
        };
        let out = &mut self.out;
        let offset = &mut self.offset;
        let mut err = None;
        assigner.finish(&mut |a| {
            if err.is_none() {
                err = write_prepared(out, offset, a.payload.0, a.random, &a.payload.1).err();
            }
        })?;
        if let Some(e) = err {
            return Err(PrepareError::Temp(e));
        }
        slice.bytes = self.offset - slice.offset;
        self.collision_count += assigner.collision_count();
        self.max_window = self.max_window.max(assigner.max_kept() as u64);
        for c in assigner.collisions() {
            if self.collisions.len() < crate::random::MAX_COLLISIONS_KEPT {
                self.collisions.push(GroupCollision {
                    group_id: slice.group_id.clone(),
                    collision: *c,
                });
            }
        }
        self.groups.push(slice);
        Ok(())
    }
}

fn write_prepared(
    out: &mut impl Write,
    offset: &mut u64,
    line: u64,
    random: i64,
    raw: &str,
) -> io::Result<()> {
    let head = format!("{line}\t{random}\t");
    out.write_all(head.as_bytes())?;
    out.write_all(raw.as_bytes())?;
    out.write_all(b"\n")?;
    *offset += (head.len() + raw.len() + 1) as u64;
    Ok(())
}

impl Prepared {
    /// Prepares `messages`; the first line that does not decode stops the build with its error.
    pub fn build(messages: &Path, opts: &PrepareOptions) -> Result<Prepared, PrepareError> {
        Self::build_with(messages, opts, |r| match r {
            Ok(_) => Ok(()),
            Err(e) => Err(e.clone()),
        })
    }

    /// Prepares `messages`, showing every line to `on_line` first (decoded, or its error).
    ///
    /// Lines that do not decode are left out of the prepared file (counted in
    /// [`BuildStats::skipped_lines`]); `on_line` returning an error stops the build with it. Note
    /// that leaving a line out shifts the positions used to derive the `Random` of later messages
    /// of its group that have no `Random`: import only inputs that `check` accepts.
    pub fn build_with(
        messages: &Path,
        opts: &PrepareOptions,
        mut on_line: impl FnMut(Result<&Record<MessageLine>, &LineError>) -> Result<(), LineError>,
    ) -> Result<Prepared, PrepareError> {
        let dir = opts.temp_dir.as_deref();
        let run_records = opts.run_records.max(1);
        let fan_in = opts.fan_in.max(2);
        let mut stats = BuildStats::default();
        let mut runs: Vec<File> = Vec::new();
        let mut run: Vec<Spill> = Vec::new();
        let mut run_bytes = 0usize;
        let mut with_supplied = HashSet::new();
        let mut hasher = Sha256::new();
        let file = File::open(messages).map_err(|source| InputError::Io {
            file: input::display_path(messages),
            source,
        })?;
        let reader = input::JsonlReader::<input::Messages, _>::new(
            BufReader::with_capacity(
                64 * 1024,
                HashRead {
                    inner: file,
                    hasher: &mut hasher,
                },
            ),
            input::display_path(messages),
        );
        for r in reader {
            let rec = match r {
                Ok(rec) => rec,
                Err(InputError::Line(e)) => {
                    on_line(Err(&e)).map_err(InputError::Line)?;
                    stats.skipped_lines += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            on_line(Ok(&rec)).map_err(InputError::Line)?;
            let Record { line, raw, value } = rec;
            let seed =
                crate::random::seed_of(&value.group_id, value.source_id.as_deref(), &value.msg);
            if matches!(seed, Seed::Supplied(_)) && !with_supplied.contains(&value.group_id) {
                with_supplied.insert(value.group_id.clone());
            }
            run_bytes += raw.len() + value.group_id.len();
            run.push(Spill {
                send_time: value.msg.send_time,
                group_id: value.group_id,
                line,
                seed: seed.encode(),
                raw,
            });
            if run.len() >= run_records || run_bytes >= opts.run_bytes {
                stats.max_run_records = stats.max_run_records.max(run.len() as u64);
                runs.push(spill(&mut run, dir)?);
                run_bytes = 0;
            }
        }
        let sha256 = crate::checkpoint::hex(&hasher.finalize());
        if !run.is_empty() {
            stats.max_run_records = stats.max_run_records.max(run.len() as u64);
            runs.push(spill(&mut run, dir)?);
        }
        drop(run);
        stats.runs = runs.len() as u64;
        while runs.len() > fan_in {
            stats.merge_passes += 1;
            let mut next = Vec::with_capacity(runs.len().div_ceil(fan_in));
            let mut rest = runs.into_iter().peekable();
            while rest.peek().is_some() {
                let chunk: Vec<File> = rest.by_ref().take(fan_in).collect();
                let file = temp_file(dir)?;
                let mut w = BufWriter::with_capacity(64 * 1024, file);
                merge(chunk, &mut |rec| {
                    rec.write(&mut w).map_err(PrepareError::Temp)
                })?;
                next.push(
                    w.into_inner()
                        .map_err(|e| PrepareError::Temp(e.into_error()))?,
                );
            }
            runs = next;
        }
        stats.merge_passes += 1;
        let named = match dir {
            Some(d) => NamedTempFile::new_in(d),
            None => NamedTempFile::new(),
        }
        .map_err(PrepareError::Temp)?;
        let out = BufWriter::with_capacity(
            64 * 1024,
            named.as_file().try_clone().map_err(PrepareError::Temp)?,
        );
        let mut writer = Writer {
            out,
            offset: 0,
            groups: Vec::new(),
            collisions: Vec::new(),
            collision_count: 0,
            current: None,
            random: opts.random,
            messages: 0,
            max_window: 0,
            with_supplied,
            buffered: None,
            temp_dir: opts.temp_dir.clone(),
        };
        merge(runs, &mut |rec| writer.push(rec))?;
        writer.finish_group()?;
        writer.out.flush().map_err(PrepareError::Temp)?;
        stats.messages = writer.messages;
        stats.max_window = writer.max_window;
        Ok(Prepared {
            file: named,
            source: input::display_path(messages),
            groups: writer.groups,
            collisions: writer.collisions,
            collision_count: writer.collision_count,
            stats,
            sha256,
        })
    }

    /// The groups, ordered by `GroupId`.
    pub fn groups(&self) -> &[GroupSlice] {
        &self.groups
    }

    /// The groups in import order: the most messages first (a group's batches go one at a
    /// time, so the largest group bounds the import's length when it starts last), then by
    /// `GroupId`.
    pub fn groups_largest_first(&self) -> Vec<&GroupSlice> {
        let mut v: Vec<&GroupSlice> = self.groups.iter().collect();
        v.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.group_id.cmp(&b.group_id))
        });
        v
    }

    /// The group `group_id`, if it has messages.
    pub fn group(&self, group_id: &str) -> Option<&GroupSlice> {
        self.groups
            .binary_search_by(|g| g.group_id.as_str().cmp(group_id))
            .ok()
            .map(|i| &self.groups[i])
    }

    /// Supplied-`Random` collisions (at most [`crate::random::MAX_COLLISIONS_KEPT`]).
    pub fn collisions(&self) -> &[GroupCollision] {
        &self.collisions
    }

    /// Number of supplied-`Random` collisions, all of them.
    pub fn collision_count(&self) -> u64 {
        self.collision_count
    }

    /// Figures about the build.
    pub fn stats(&self) -> BuildStats {
        self.stats
    }

    /// The messages file as the user named it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Hex SHA-256 of the whole messages file as read by the sort pass (the checkpoint's
    /// fingerprint of it, see [`crate::checkpoint`]).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Streams `group`'s messages in order, skipping the first `skip` (already confirmed ones,
    /// when resuming). Each call opens its own reader.
    pub fn read_group(&self, group: &GroupSlice, skip: u64) -> Result<GroupReader, PrepareError> {
        let mut f = File::open(self.file.path()).map_err(PrepareError::Temp)?;
        f.seek(SeekFrom::Start(group.offset))
            .map_err(PrepareError::Temp)?;
        Ok(GroupReader {
            reader: BufReader::with_capacity(32 * 1024, f.take(group.bytes)),
            skip,
            left: group.count,
            buf: String::new(),
        })
    }
}

/// Iterator over one group's [`PreparedMsg`]s; see [`Prepared::read_group`].
#[derive(Debug)]
pub struct GroupReader {
    reader: BufReader<io::Take<File>>,
    skip: u64,
    left: u64,
    buf: String,
}

impl GroupReader {
    /// Messages still to come (the skipped ones left out).
    pub fn remaining(&self) -> u64 {
        self.left.saturating_sub(self.skip)
    }

    fn read_one(&mut self) -> Result<Option<PreparedMsg>, PrepareError> {
        loop {
            if self.left == 0 {
                return Ok(None);
            }
            self.buf.clear();
            let n = self
                .reader
                .read_line(&mut self.buf)
                .map_err(PrepareError::Temp)?;
            if n == 0 {
                return Err(PrepareError::Corrupt("prepared file ends early".into()));
            }
            self.left -= 1;
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            let text = self.buf.strip_suffix('\n').unwrap_or(&self.buf);
            let bad = || PrepareError::Corrupt(format!("bad prepared record {text:.60?}"));
            let mut it = text.splitn(3, '\t');
            let line: u64 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let random: i64 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let raw = it.next().ok_or_else(bad)?;
            let decoded = input::decode_message(raw).map_err(|_| bad())?;
            let mut msg = decoded.msg;
            msg.random = Some(random);
            return Ok(Some(PreparedMsg {
                line,
                msg,
                source_id: decoded.source_id,
                raw: raw.to_owned(),
            }));
        }
    }
}

impl Iterator for GroupReader {
    type Item = Result<PreparedMsg, PrepareError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.read_one() {
            Ok(Some(m)) => Some(Ok(m)),
            Ok(None) => None,
            Err(e) => {
                self.left = 0;
                Some(Err(e))
            }
        }
    }
}
