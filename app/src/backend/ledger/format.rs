//! The ledger's on-disk format, version 1: what each column family holds and how its keys and
//! values are laid out. Hashes are computed over these exact bytes, so this layout is a
//! contract: a change is a new `FORMAT_VERSION`, never an edit of version 1.
//!
//! | family      | key                                   | value                         |
//! |-------------|---------------------------------------|-------------------------------|
//! | `events`    | sequence (u64 BE)                     | the event's canonical bytes   |
//! | `indices`   | `p` ‖ payment id (16) ‖ sequence      | empty                         |
//! |             | `t` ‖ event type ‖ 0x00 ‖ sequence    | empty                         |
//! |             | `s` ‖ a block's last sequence         | its block number (u64 BE)     |
//! | `state`     | payment id (16)                       | [`PaymentState`] bytes        |
//! | `blocks`    | block number (u64 BE)                 | the block's canonical bytes   |
//! | `merkle`    | `b` ‖ block (u64) ‖ level (u8) ‖ index (u64) | a block tree's node (32) |
//! |             | `c` ‖ level (u8) ‖ index (u64)        | the chain tree's node (32)    |
//! | `snapshots` | sequence (u64 BE)                     | [`Snapshot`] as JSON          |
//! | `default`   | `format`                              | `FORMAT_VERSION` (one byte)   |
//!
//! Integers are big-endian, so keys sort by number and a range of sequences is a key range.
//! Times are microseconds since the Unix epoch (i64). A block's tree is the RFC 6962 tree over
//! its events' leaves (`merkle::leaf_hash(canonical bytes)`, in sequence order); the chain
//! tree is the RFC 6962 tree over every block's hash, in block order. Only the perfect
//! subtrees of both are stored (see `merkle`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::merkle::{self, Hash};

/// The version of this layout; written into every event, block and state value.
pub const FORMAT_VERSION: u8 = 1;

pub const CF_EVENTS: &str = "events";
pub const CF_BLOCKS: &str = "blocks";
pub const CF_STATE: &str = "state";
pub const CF_INDICES: &str = "indices";
pub const CF_MERKLE: &str = "merkle";
pub const CF_SNAPSHOTS: &str = "snapshots";
/// The column families, in the order their settings and figures are listed.
pub const FAMILIES: [&str; 6] = [
    CF_EVENTS,
    CF_BLOCKS,
    CF_STATE,
    CF_INDICES,
    CF_MERKLE,
    CF_SNAPSHOTS,
];
/// The key in the default family that records the format version.
pub const FORMAT_KEY: &[u8] = b"format";

/// The parent hash of block 0.
pub const GENESIS_PARENT: Hash = [0; 32];

/// A stored value that does not decode: the ledger is damaged or of another format.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{what}: {why}")]
pub struct FormatError {
    pub what: String,
    pub why: &'static str,
}

fn bad(what: impl Into<String>, why: &'static str) -> FormatError {
    FormatError {
        what: what.into(),
        why,
    }
}

/// An event type: 1 to 32 of `a-z`, `0-9`, `_`, starting with a letter (so it can sit in an
/// index key before a 0x00 separator).
pub fn valid_event_type(t: &str) -> bool {
    (1..=32).contains(&t.len())
        && t.starts_with(|c: char| c.is_ascii_lowercase())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The payment status an event type leaves its payment in; other types (a screening, say)
/// leave the status as it was.
pub fn status_after(event_type: &str) -> Option<&'static str> {
    match event_type {
        "created" => Some("pending"),
        "processing" => Some("processing"),
        "settled" => Some("settled"),
        "failed" => Some("failed"),
        "cancelled" => Some("cancelled"),
        _ => None,
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64, what: &str) -> Result<DateTime<Utc>, FormatError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| bad(what, "time out of range"))
}

/// One event of a payment, as appended.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub payment_id: Uuid,
    pub event_type: String,
    /// Compact JSON, stored and hashed byte for byte as the writer gave it.
    pub payload: Vec<u8>,
    pub time: DateTime<Utc>,
}

/// Reads big-endian fields off the front of a value.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'a str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.bytes.len() < n {
            return Err(bad(self.what, "truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, FormatError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn hash(&mut self) -> Result<Hash, FormatError> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
    fn version(&mut self) -> Result<(), FormatError> {
        match self.u8()? {
            FORMAT_VERSION => Ok(()),
            _ => Err(bad(self.what, "unknown format version")),
        }
    }
    fn end(&self) -> Result<(), FormatError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(bad(self.what, "trailing bytes"))
        }
    }
}

impl Event {
    /// The canonical bytes: version (1) ‖ seq (8) ‖ payment id (16) ‖ time (8) ‖ type length
    /// (2) ‖ type ‖ payload length (4) ‖ payload. Stored as the value, hashed as the leaf.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(39 + self.event_type.len() + self.payload.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(self.payment_id.as_bytes());
        out.extend_from_slice(&micros(self.time).to_be_bytes());
        out.extend_from_slice(&(self.event_type.len() as u16).to_be_bytes());
        out.extend_from_slice(self.event_type.as_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Decodes the value stored under `key`; the sequence inside must be the key's, so an
    /// event copied under another key does not pass for that one.
    pub fn decode(key: &[u8], value: &[u8]) -> Result<Event, FormatError> {
        let seq = seq_of_key(key).ok_or_else(|| bad("event key", "not 8 bytes"))?;
        let what = format!("event {seq}");
        let mut r = Reader {
            bytes: value,
            what: &what,
        };
        r.version()?;
        if r.u64()? != seq {
            return Err(bad(what, "its sequence differs from its key"));
        }
        let payment_id = Uuid::from_slice(r.take(16)?).expect("16 bytes");
        let time = from_micros(r.i64()?, &what)?;
        let len = r.u16()? as usize;
        let event_type = std::str::from_utf8(r.take(len)?)
            .map_err(|_| bad(what.clone(), "its type is not UTF-8"))?
            .to_string();
        let len = r.u32()? as usize;
        let payload = r.take(len)?.to_vec();
        r.end()?;
        Ok(Event {
            seq,
            payment_id,
            event_type,
            payload,
            time,
        })
    }

    /// SHA-256 of the canonical bytes: the event's own hash.
    pub fn hash(&self) -> Hash {
        Sha256::digest(self.canonical()).into()
    }

    /// The event's leaf hash in its block's tree.
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.canonical())
    }
}

/// The key of event `seq`.
pub fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The sequence (or block number) a key of the events, blocks or snapshots family names.
pub fn seq_of_key(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

/// The index key of event `seq` of `payment`.
pub fn payment_index_key(payment: Uuid, seq: u64) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[0] = b'p';
    k[1..17].copy_from_slice(payment.as_bytes());
    k[17..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The prefix of every index key of `payment`.
pub fn payment_index_prefix(payment: Uuid) -> Vec<u8> {
    let mut k = vec![b'p'];
    k.extend_from_slice(payment.as_bytes());
    k
}

/// The index key of event `seq` of type `event_type`.
pub fn type_index_key(event_type: &str, seq: u64) -> Vec<u8> {
    let mut k = type_index_prefix(event_type);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The prefix of every index key of type `event_type`.
pub fn type_index_prefix(event_type: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(event_type.len() + 10);
    k.push(b't');
    k.extend_from_slice(event_type.as_bytes());
    k.push(0);
    k
}

/// The sequence at the end of an index key.
pub fn seq_of_index_key(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(8)?;
    seq_of_key(&key[tail..])
}

/// The index key that finds the block holding a sequence: the first key at or after
/// `s ‖ seq` names it (blocks cover consecutive runs of sequences).
pub fn block_index_key(last_seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b's';
    k[1..].copy_from_slice(&last_seq.to_be_bytes());
    k
}

/// A sealed block: a run of consecutive events under one Merkle root, chained to its parent.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub number: u64,
    pub parent_hash: Hash,
    pub merkle_root: Hash,
    pub first_seq: u64,
    pub last_seq: u64,
    pub time: DateTime<Utc>,
}

impl Block {
    /// The canonical bytes: version (1) ‖ number (8) ‖ parent hash (32) ‖ Merkle root (32) ‖
    /// first sequence (8) ‖ last sequence (8) ‖ time (8). Stored as the value; the block's
    /// hash is their SHA-256.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(97);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.parent_hash);
        out.extend_from_slice(&self.merkle_root);
        out.extend_from_slice(&self.first_seq.to_be_bytes());
        out.extend_from_slice(&self.last_seq.to_be_bytes());
        out.extend_from_slice(&micros(self.time).to_be_bytes());
        out
    }

    pub fn decode(key: &[u8], value: &[u8]) -> Result<Block, FormatError> {
        let number = seq_of_key(key).ok_or_else(|| bad("block key", "not 8 bytes"))?;
        let what = format!("block {number}");
        let mut r = Reader {
            bytes: value,
            what: &what,
        };
        r.version()?;
        if r.u64()? != number {
            return Err(bad(what, "its number differs from its key"));
        }
        let parent_hash = r.hash()?;
        let merkle_root = r.hash()?;
        let first_seq = r.u64()?;
        let last_seq = r.u64()?;
        let time = from_micros(r.i64()?, &what)?;
        r.end()?;
        if last_seq < first_seq {
            return Err(bad(what, "its sequence range is empty"));
        }
        Ok(Block {
            number,
            parent_hash,
            merkle_root,
            first_seq,
            last_seq,
            time,
        })
    }

    pub fn hash(&self) -> Hash {
        Sha256::digest(self.canonical()).into()
    }

    /// How many events the block holds (its tree's size).
    pub fn size(&self) -> u64 {
        self.last_seq - self.first_seq + 1
    }
}

/// Where a payment stands in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentState {
    /// The status its events leave it in (`status_after`).
    pub status: String,
    pub last_seq: u64,
    pub events: u32,
    pub updated: DateTime<Utc>,
}

impl PaymentState {
    /// version (1) ‖ last sequence (8) ‖ event count (4) ‖ updated (8) ‖ status.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(21 + self.status.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.last_seq.to_be_bytes());
        out.extend_from_slice(&self.events.to_be_bytes());
        out.extend_from_slice(&micros(self.updated).to_be_bytes());
        out.extend_from_slice(self.status.as_bytes());
        out
    }

    pub fn decode(payment: Uuid, value: &[u8]) -> Result<PaymentState, FormatError> {
        let what = format!("state of payment {payment}");
        let mut r = Reader {
            bytes: value,
            what: &what,
        };
        r.version()?;
        let last_seq = r.u64()?;
        let events = r.u32()?;
        let updated = from_micros(r.i64()?, &what)?;
        let status = std::str::from_utf8(r.bytes)
            .map_err(|_| bad(what.clone(), "its status is not UTF-8"))?
            .to_string();
        Ok(PaymentState {
            status,
            last_seq,
            events,
            updated,
        })
    }

    /// The state after `event`, from the state before it (`None` for a payment's first).
    pub fn after(before: Option<PaymentState>, event: &Event) -> PaymentState {
        let status = status_after(&event.event_type)
            .map(str::to_string)
            .or_else(|| before.as_ref().map(|s| s.status.clone()))
            .unwrap_or_else(|| "pending".to_string());
        PaymentState {
            status,
            last_seq: event.seq,
            events: before.map_or(0, |s| s.events) + 1,
            updated: event.time,
        }
    }
}

/// The key of a node of block `block`'s tree.
pub fn block_node_key(block: u64, level: u32, index: u64) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[0] = b'b';
    k[1..9].copy_from_slice(&block.to_be_bytes());
    k[9] = level as u8;
    k[10..].copy_from_slice(&index.to_be_bytes());
    k
}

/// The key of a node of the chain tree (over block hashes).
pub fn chain_node_key(level: u32, index: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = b'c';
    k[1] = level as u8;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

/// A point-in-time marker: the ledger up to `seq`, and a digest of every payment's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub seq: u64,
    pub time: DateTime<Utc>,
    /// Sealed blocks at the time.
    pub blocks: u64,
    pub payments: u64,
    /// SHA-256 (hex) over every `state` entry in key order: key ‖ value.
    pub state_digest: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            seq: 42,
            payment_id: Uuid::from_u128(7),
            event_type: "settled".into(),
            payload: br#"{"amount":"10.00"}"#.to_vec(),
            time: DateTime::from_timestamp_micros(1_764_547_200_123_456).unwrap(),
        }
    }

    #[test]
    fn an_event_round_trips_and_its_hash_covers_every_field() {
        let e = event();
        let bytes = e.canonical();
        assert_eq!(Event::decode(&seq_key(42), &bytes).unwrap(), e);
        let h = e.hash();
        let mut other = e.clone();
        other.payload[3] ^= 1;
        assert_ne!(other.hash(), h);
        let mut other = e.clone();
        other.time += chrono::Duration::microseconds(1);
        assert_ne!(other.hash(), h);
        assert_ne!(e.leaf_hash(), h, "the leaf hash is domain-separated");
    }

    #[test]
    fn an_event_under_another_key_or_cut_short_does_not_decode() {
        let bytes = event().canonical();
        assert!(Event::decode(&seq_key(43), &bytes).is_err());
        assert!(Event::decode(&seq_key(42), &bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Event::decode(&seq_key(42), &longer).is_err());
        let mut v2 = bytes;
        v2[0] = 2;
        assert_eq!(
            Event::decode(&seq_key(42), &v2).unwrap_err().why,
            "unknown format version"
        );
    }

    #[test]
    fn a_block_round_trips() {
        let b = Block {
            number: 3,
            parent_hash: [1; 32],
            merkle_root: [2; 32],
            first_seq: 10,
            last_seq: 19,
            time: DateTime::from_timestamp_micros(5).unwrap(),
        };
        assert_eq!(Block::decode(&seq_key(3), &b.canonical()).unwrap(), b);
        assert_eq!(b.size(), 10);
        assert!(Block::decode(&seq_key(4), &b.canonical()).is_err());
    }

    #[test]
    fn state_follows_the_events() {
        let mut e = event();
        e.event_type = "created".into();
        let s = PaymentState::after(None, &e);
        assert_eq!((s.status.as_str(), s.events), ("pending", 1));
        e.event_type = "screened".into();
        e.seq = 50;
        let s = PaymentState::after(Some(s), &e);
        assert_eq!(
            (s.status.as_str(), s.events, s.last_seq),
            ("pending", 2, 50)
        );
        let back = PaymentState::decode(e.payment_id, &s.encode()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn index_keys_sort_by_sequence_within_their_prefix() {
        let p = Uuid::from_u128(9);
        assert!(payment_index_key(p, 2) < payment_index_key(p, 256));
        assert!(payment_index_key(p, 2).starts_with(&payment_index_prefix(p)));
        assert_eq!(seq_of_index_key(&type_index_key("settled", 77)), Some(77));
        // "set" is a prefix of "settled" as text, not as an index prefix.
        assert!(!type_index_key("settled", 1).starts_with(&type_index_prefix("set")));
        assert!(valid_event_type("settled") && !valid_event_type("Settled"));
        assert!(!valid_event_type("") && !valid_event_type("a b"));
    }
}
