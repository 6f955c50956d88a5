//! The ledger's RocksDB settings, from `rocksdb.toml` (`LEDGER_CONFIG`): memtables, the block
//! and row caches, and per column family its compression, compaction style and bloom filter.
//! Every setting has the seed's value as its default, so an empty file (or none) is the seed's
//! ledger; `rocksdb.toml` at the top of the repository lists them all. A misspelt or unknown
//! setting is refused with one line naming it, never ignored.

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompactionStyle, DBCompressionType, Options,
};
use serde::Deserialize;

use super::format::{self, FAMILIES};

const MB: usize = 1024 * 1024;

/// The ledger's settings; `Settings::default()` is the seed's.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Size of one memtable, per column family.
    pub write_buffer_mb: usize,
    /// Memtables per column family before writes stall.
    pub max_write_buffers: i32,
    /// The block cache, shared by every column family.
    pub block_cache_mb: usize,
    /// The row cache (whole values of point reads); 0 turns it off.
    pub row_cache_mb: usize,
    /// Events per sealed block, at most.
    pub block_events: u64,
    pub families: Families,
}

/// The settings of each column family.
#[derive(Debug, Clone, PartialEq)]
pub struct Families {
    pub events: Family,
    pub blocks: Family,
    pub state: Family,
    pub indices: Family,
    pub merkle: Family,
    pub snapshots: Family,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub compression: Compression,
    pub compaction: Compaction,
    /// Bits per key of a bloom filter on point lookups; 0 for none.
    pub bloom_bits_per_key: f64,
}

/// The file as written: every setting optional, so what it leaves out keeps its default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    write_buffer_mb: Option<usize>,
    max_write_buffers: Option<i32>,
    block_cache_mb: Option<usize>,
    row_cache_mb: Option<usize>,
    block_events: Option<u64>,
    #[serde(default)]
    families: std::collections::BTreeMap<String, FamilyFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyFile {
    compression: Option<Compression>,
    compaction: Option<Compaction>,
    bloom_bits_per_key: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Lz4,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compaction {
    Level,
    Universal,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl Family {
    fn new(compression: Compression) -> Family {
        Family {
            compression,
            compaction: Compaction::Level,
            bloom_bits_per_key: 0.0,
        }
    }
}

impl Default for Families {
    fn default() -> Self {
        Families {
            events: Family {
                compaction: Compaction::Universal,
                ..Family::new(Compression::Zstd)
            },
            blocks: Family::new(Compression::Zstd),
            state: Family::new(Compression::Lz4),
            indices: Family {
                bloom_bits_per_key: 10.0,
                ..Family::new(Compression::Lz4)
            },
            // Hashes do not compress.
            merkle: Family::new(Compression::None),
            snapshots: Family::new(Compression::Zstd),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            write_buffer_mb: 64,
            max_write_buffers: 4,
            block_cache_mb: 256,
            row_cache_mb: 32,
            block_events: 1024,
            families: Families::default(),
        }
    }
}

impl Families {
    /// The settings of family `name` (one of `format::FAMILIES`).
    pub fn get(&self, name: &str) -> &Family {
        match name {
            format::CF_EVENTS => &self.events,
            format::CF_BLOCKS => &self.blocks,
            format::CF_STATE => &self.state,
            format::CF_INDICES => &self.indices,
            format::CF_MERKLE => &self.merkle,
            _ => &self.snapshots,
        }
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Family> {
        Some(match name {
            format::CF_EVENTS => &mut self.events,
            format::CF_BLOCKS => &mut self.blocks,
            format::CF_STATE => &mut self.state,
            format::CF_INDICES => &mut self.indices,
            format::CF_MERKLE => &mut self.merkle,
            format::CF_SNAPSHOTS => &mut self.snapshots,
            _ => return None,
        })
    }
}

impl Settings {
    /// Parses the text of a `rocksdb.toml`; the error is one line naming the bad setting and
    /// where it is.
    pub fn parse(text: &str) -> Result<Settings, String> {
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let message = e.message().replace('\n', " ");
            match line {
                Some(l) => format!("line {l}: {message}"),
                None => message,
            }
        })?;
        let mut s = Settings::default();
        let d = Settings::default();
        s.write_buffer_mb = file.write_buffer_mb.unwrap_or(d.write_buffer_mb);
        s.max_write_buffers = file.max_write_buffers.unwrap_or(d.max_write_buffers);
        s.block_cache_mb = file.block_cache_mb.unwrap_or(d.block_cache_mb);
        s.row_cache_mb = file.row_cache_mb.unwrap_or(d.row_cache_mb);
        s.block_events = file.block_events.unwrap_or(d.block_events);
        for (name, f) in file.families {
            let family = s.families.get_mut(&name).ok_or_else(|| {
                format!(
                    "families.{name}: unknown column family (the ledger has {})",
                    FAMILIES.join(", ")
                )
            })?;
            family.compression = f.compression.unwrap_or(family.compression);
            family.compaction = f.compaction.unwrap_or(family.compaction);
            family.bloom_bits_per_key = f.bloom_bits_per_key.unwrap_or(family.bloom_bits_per_key);
        }
        s.check()?;
        Ok(s)
    }

    /// The settings of the file at `path`, or the defaults when there is none configured.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
        let Some(path) = path else {
            return Ok(Settings::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("LEDGER_CONFIG {}: {e}", path.display()))?;
        Settings::parse(&text).map_err(|e| anyhow::anyhow!("LEDGER_CONFIG {}: {e}", path.display()))
    }

    fn check(&self) -> Result<(), String> {
        let positive = [
            ("write_buffer_mb", self.write_buffer_mb),
            ("block_cache_mb", self.block_cache_mb),
            ("block_events", self.block_events as usize),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be at least 1"));
        }
        if self.max_write_buffers < 2 {
            return Err("max_write_buffers must be at least 2".into());
        }
        for name in FAMILIES {
            let bits = self.families.get(name).bloom_bits_per_key;
            if !(0.0..=64.0).contains(&bits) {
                return Err(format!(
                    "families.{name}.bloom_bits_per_key must be between 0 and 64"
                ));
            }
        }
        Ok(())
    }

    /// The database options, and one descriptor per column family, for opening the ledger.
    /// Every family shares one block cache (the options keep it alive).
    pub fn options(&self) -> (Options, Vec<ColumnFamilyDescriptor>) {
        let cache = Cache::new_lru_cache(self.block_cache_mb * MB);
        let mut db = Options::default();
        db.create_if_missing(false);
        db.create_missing_column_families(false);
        // A secondary instance must keep every file open (RocksDB's requirement), and the
        // writer gains from it too.
        db.set_max_open_files(-1);
        if self.row_cache_mb > 0 {
            db.set_row_cache(&Cache::new_lru_cache(self.row_cache_mb * MB));
        }
        let families = FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, self.family_options(name, &cache)))
            .collect();
        (db, families)
    }

    fn family_options(&self, name: &str, cache: &Cache) -> Options {
        let f = self.families.get(name);
        let mut o = Options::default();
        o.set_write_buffer_size(self.write_buffer_mb * MB);
        o.set_max_write_buffer_number(self.max_write_buffers);
        o.set_compression_type(match f.compression {
            Compression::None => DBCompressionType::None,
            Compression::Lz4 => DBCompressionType::Lz4,
            Compression::Zstd => DBCompressionType::Zstd,
        });
        o.set_compaction_style(match f.compaction {
            Compaction::Level => DBCompactionStyle::Level,
            Compaction::Universal => DBCompactionStyle::Universal,
        });
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(cache);
        if f.bloom_bits_per_key > 0.0 {
            table.set_bloom_filter(f.bloom_bits_per_key, false);
        }
        o.set_block_based_table_factory(&table);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_seeds() {
        let s = Settings::parse("").unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!((s.write_buffer_mb, s.max_write_buffers), (64, 4));
        assert_eq!(s.block_cache_mb, 256);
        assert_eq!(s.families.events.compression, Compression::Zstd);
        assert_eq!(s.families.events.compaction, Compaction::Universal);
        assert_eq!(s.families.state.compression, Compression::Lz4);
        assert!(s.families.indices.bloom_bits_per_key > 0.0);
    }

    #[test]
    fn the_example_file_parses_to_the_defaults() {
        let text = include_str!("../../../../rocksdb.toml");
        assert_eq!(Settings::parse(text).unwrap(), Settings::default());
    }

    #[test]
    fn a_family_can_be_changed_alone() {
        let s = Settings::parse("[families.state]\ncompression = \"zstd\"\n").unwrap();
        assert_eq!(s.families.state.compression, Compression::Zstd);
        assert_eq!(s.families.events, Families::default().events);
    }

    #[test]
    fn a_bad_or_unknown_setting_is_one_line_naming_it() {
        for (text, names) in [
            ("write_bufer_mb = 64\n", "write_bufer_mb"),
            ("\n[families.events]\ncompression = \"snappy\"\n", "snappy"),
            ("[families.evnts]\ncompression = \"lz4\"\n", "evnts"),
            ("block_cache_mb = \"lots\"\n", "line 1"),
            ("block_cache_mb = 0\n", "block_cache_mb"),
            ("max_write_buffers = 1\n", "max_write_buffers"),
        ] {
            let err = Settings::parse(text).unwrap_err();
            assert!(err.contains(names), "{text:?} → {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
