//! `deltran-bench ledger`: the ledger's speed against raw RocksDB in one process, with the
//! same options (`rocksdb.toml`'s defaults), in temporary directories:
//!
//! - appends: the writer (events, indices, states, then sealing: trees, blocks, chain) against
//!   raw WriteBatches of the same keys and bytes, built beforehand, and against single puts;
//! - proofs: p50 of `View::proof` over random sealed events;
//! - verification: `View::verify` against a raw iteration of the same keys with SHA-256 of the
//!   same bytes;
//! - the events page: p50 of a page of 50 (newest first, from a random cursor) against a raw
//!   iteration of the same 50 keys.

use std::time::{Duration, Instant};

use app::backend::ledger::{
    format::{self, Block, Event, PaymentState},
    merkle, EventFilter, NewEvent, Order, Settings, Writer,
};
use chrono::Utc;
use rocksdb::{IteratorMode, WriteBatch, DB};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const BATCH: usize = 10_000;
const PAYMENTS: u64 = 250_000;

/// Event `i`'s payment, type and payload: four events per payment, as the demo's.
fn event(i: u64) -> NewEvent {
    let kinds = ["created", "screened", "processing", "settled"];
    NewEvent {
        payment_id: Uuid::from_u128(u128::from(i % PAYMENTS) + 1),
        event_type: kinds[((i / PAYMENTS) % 4) as usize].into(),
        payload: format!(
            r#"{{"amount":"{}.00","currency":"EUR","n":{i}}}"#,
            i % 100_000
        )
        .into_bytes(),
        time: Utc::now(),
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn p50(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The entries the writer writes for events `first..first+n` (with states as they stand in
/// `states`) and the blocks they fill, as (family, key, value).
fn raw_entries(
    first: u64,
    events: &[NewEvent],
    states: &mut std::collections::HashMap<Uuid, PaymentState>,
) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::with_capacity(events.len() * 4);
    for (seq, e) in (first..).zip(events) {
        let ev = Event {
            seq,
            payment_id: e.payment_id,
            event_type: e.event_type.clone(),
            payload: e.payload.clone(),
            time: e.time,
        };
        let state = PaymentState::after(states.remove(&ev.payment_id), &ev);
        out.push((
            format::CF_EVENTS,
            format::seq_key(seq).to_vec(),
            ev.canonical(),
        ));
        out.push((
            format::CF_INDICES,
            format::payment_index_key(ev.payment_id, seq).to_vec(),
            Vec::new(),
        ));
        out.push((
            format::CF_INDICES,
            format::type_index_key(&ev.event_type, seq),
            Vec::new(),
        ));
        out.push((
            format::CF_STATE,
            ev.payment_id.as_bytes().to_vec(),
            state.encode(),
        ));
        states.insert(ev.payment_id, state);
    }
    out
}

fn block_entries(
    number: u64,
    first: u64,
    leaves: Vec<merkle::Hash>,
) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let last = first + leaves.len() as u64 - 1;
    let tree = merkle::MemTree::new(leaves);
    let block = Block {
        number,
        parent_hash: [0; 32],
        merkle_root: tree.root(),
        first_seq: first,
        last_seq: last,
        time: Utc::now(),
    };
    let mut out: Vec<_> = tree
        .perfect_nodes()
        .map(|(l, i, h)| {
            (
                format::CF_MERKLE,
                format::block_node_key(number, l, i).to_vec(),
                h.to_vec(),
            )
        })
        .collect();
    out.push((
        format::CF_BLOCKS,
        format::seq_key(number).to_vec(),
        block.canonical(),
    ));
    out.push((
        format::CF_INDICES,
        format::block_index_key(last).to_vec(),
        format::seq_key(number).to_vec(),
    ));
    // One chain leaf, as the writer's chain tree gets per block (its inner nodes, about as
    // many again, are left out: the baseline errs on the fast side).
    out.push((
        format::CF_MERKLE,
        format::chain_node_key(0, number).to_vec(),
        block.hash().to_vec(),
    ));
    out
}

fn raw_db(path: &std::path::Path, settings: &Settings) -> DB {
    let (mut opts, families) = settings.options();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    DB::open_cf_descriptors(&opts, path, families).expect("a raw database opens")
}

pub fn bench(n: u64, samples: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = Settings::default();
    let block = settings.block_events as usize;
    println!("ledger: {n} events, blocks of {block}, rocksdb.toml defaults");

    // The writer.
    let mut w = Writer::open(&dir.path().join("ledger"), &settings)?;
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let chunk: Vec<NewEvent> = (i..(i + BATCH as u64).min(n)).map(event).collect();
        i += chunk.len() as u64;
        w.append(chunk)?;
    }
    w.seal(Utc::now())?;
    let ours = started.elapsed();

    // Raw WriteBatches of the same keys and bytes (built before each write, untimed).
    let raw = raw_db(&dir.path().join("raw"), &settings);
    let mut states = std::collections::HashMap::new();
    let mut timed = Duration::ZERO;
    let mut i = 0u64;
    let mut leaves = Vec::new();
    let (mut number, mut block_first) = (0u64, 1u64);
    let write = |entries: Vec<(&'static str, Vec<u8>, Vec<u8>)>, timed: &mut Duration| {
        let mut batch = WriteBatch::default();
        for (cf, k, v) in &entries {
            batch.put_cf(raw.cf_handle(cf).expect("a family"), k, v);
        }
        let t = Instant::now();
        raw.write(batch).expect("a raw write");
        *timed += t.elapsed();
    };
    while i < n {
        let chunk: Vec<NewEvent> = (i..(i + BATCH as u64).min(n)).map(event).collect();
        let entries = raw_entries(i + 1, &chunk, &mut states);
        leaves.extend(
            entries
                .iter()
                .filter(|e| e.0 == format::CF_EVENTS)
                .map(|e| merkle::leaf_hash(&e.2)),
        );
        i += chunk.len() as u64;
        write(entries, &mut timed);
        while leaves.len() >= block || (i == n && !leaves.is_empty()) {
            let take = leaves.len().min(block);
            let rest = leaves.split_off(take);
            write(
                block_entries(number, block_first, std::mem::replace(&mut leaves, rest)),
                &mut timed,
            );
            number += 1;
            block_first += take as u64;
        }
    }
    let batched = timed;

    // Single puts of the same events' entries (a tenth of them: it is slow), scaled up.
    let single = raw_db(&dir.path().join("single"), &settings);
    let tenth = (n / 10).max(1);
    let mut states = std::collections::HashMap::new();
    let mut put = Duration::ZERO;
    let mut i = 0;
    while i < tenth {
        let chunk: Vec<NewEvent> = (i..(i + BATCH as u64).min(tenth)).map(event).collect();
        let entries = raw_entries(i + 1, &chunk, &mut states);
        i += chunk.len() as u64;
        let t = Instant::now();
        for (cf, k, v) in &entries {
            single.put_cf(single.cf_handle(cf).expect("a family"), k, v)?;
        }
        put += t.elapsed();
    }
    let single_puts = put.mul_f64(n as f64 / tenth as f64);
    println!(
        "  writer (append + seal)         {:8.2} s  {:9.0} events/s",
        ours.as_secs_f64(),
        n as f64 / ours.as_secs_f64()
    );
    println!(
        "  raw WriteBatches (baseline)    {:8.2} s",
        batched.as_secs_f64()
    );
    println!(
        "  raw single puts (scaled)       {:8.2} s",
        single_puts.as_secs_f64()
    );
    println!(
        "  throughput / raw batches       {:8.2}   (budget >= 0.50)",
        ratio(batched, ours)
    );
    println!(
        "  throughput / raw single puts   {:8.2}",
        ratio(single_puts, ours)
    );

    let view = w.view();
    let head = view.head()?;
    // Proofs of random sealed events.
    let mut proofs = Vec::with_capacity(samples);
    for k in 0..samples as u64 {
        let seq = 1 + (k * 2_654_435_761) % head.last_seq;
        let t = Instant::now();
        let proof = view.proof(seq)?.expect("a sealed event");
        proofs.push(t.elapsed());
        assert!(proof.verified());
    }
    println!(
        "  proof p50                      {:8.3} ms  (budget <= 1 ms)",
        p50(proofs).as_secs_f64() * 1e3
    );

    // The whole chain against raw iteration + SHA-256 of the same bytes.
    let t = Instant::now();
    let report = view.verify(&mut |_, _| {})?;
    let verify = t.elapsed();
    anyhow::ensure!(
        report.ok(),
        "the bench's own ledger does not verify: {:?}",
        report.first_broken
    );
    let db = raw_db_read(&dir.path().join("ledger"), &settings)?;
    let t = Instant::now();
    let mut digest = 0u8;
    for cf in [format::CF_EVENTS, format::CF_BLOCKS] {
        for entry in db.iterator_cf(db.cf_handle(cf).expect("a family"), IteratorMode::Start) {
            let (_, v) = entry?;
            digest ^= Sha256::digest(&v)[0];
        }
    }
    let merkle_cf = db.cf_handle(format::CF_MERKLE).expect("a family");
    for entry in db
        .iterator_cf(merkle_cf, IteratorMode::Start)
        .take(n as usize)
    {
        digest ^= entry?.1[0];
    }
    let raw_verify = t.elapsed();
    std::hint::black_box(digest);
    println!(
        "  verify the chain               {:8.2} s",
        verify.as_secs_f64()
    );
    println!(
        "  raw iteration + SHA-256        {:8.2} s",
        raw_verify.as_secs_f64()
    );
    println!(
        "  verification / raw             {:8.2}   (budget >= 0.50)",
        ratio(raw_verify, verify)
    );

    // A page of 50, newest first, from random cursors.
    let mut page = Vec::with_capacity(samples);
    let mut raw_page = Vec::with_capacity(samples);
    let events_cf = db.cf_handle(format::CF_EVENTS).expect("a family");
    for k in 0..samples as u64 {
        let cursor = 51 + (k * 2_654_435_761) % (head.last_seq - 51);
        let t = Instant::now();
        let got = view.events(&EventFilter::default(), Order::Descending, Some(cursor), 50)?;
        page.push(t.elapsed());
        assert_eq!(got.items.len(), 50);
        let t = Instant::now();
        let from = format::seq_key(cursor - 1);
        let mut bytes = 0;
        for entry in db
            .iterator_cf(
                events_cf,
                IteratorMode::From(&from, rocksdb::Direction::Reverse),
            )
            .take(50)
        {
            bytes += entry?.1.len();
        }
        raw_page.push(t.elapsed());
        std::hint::black_box(bytes);
    }
    let (page, raw_page) = (p50(page), p50(raw_page));
    println!(
        "  events page p50                {:8.3} ms",
        page.as_secs_f64() * 1e3
    );
    println!(
        "  raw iteration of the page p50  {:8.3} ms",
        raw_page.as_secs_f64() * 1e3
    );
    println!(
        "  page / raw                     {:8.2}   (budget <= 1.50)",
        ratio(page, raw_page)
    );
    Ok(())
}

/// A second, secondary handle on the writer's ledger, for the raw reads.
fn raw_db_read(path: &std::path::Path, settings: &Settings) -> anyhow::Result<DB> {
    let (opts, families) = settings.options();
    let secondary = path.with_extension("raw-reader");
    Ok(DB::open_cf_descriptors_as_secondary(
        &opts, path, &secondary, families,
    )?)
}
