//! RFC 6962 (Certificate Transparency) Merkle trees for the append-only ledger.
//!
//! The ledger keeps two kinds of tree, both in this format: one per block, over the leaf
//! hashes of the block's events (its root goes in the block), and one growing tree over all
//! block hashes, whose `(size, root)` checkpoints are signed and linked by consistency
//! proofs. Signing and the key layout in RocksDB live elsewhere; this module is only the
//! tree: hashing, node storage, proofs and their verification.
//!
//! # Hashes (RFC 6962 §2.1)
//!
//! * a leaf is `SHA-256(0x00 ‖ data)` ([`leaf_hash`]) and an interior node is
//!   `SHA-256(0x01 ‖ left ‖ right)` ([`node_hash`]). The distinct prefixes keep a leaf from
//!   ever passing for an interior node (a second preimage of the root);
//! * the empty tree's root is `SHA-256("")` ([`empty_root`]);
//! * for `n > 1` leaves, `MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))` where `k` is the
//!   largest power of two *strictly* below `n`. The left part is therefore always a perfect
//!   (full, power-of-two) subtree, and only the right spine can be ragged.
//!
//! # Storage: perfect subtrees only
//!
//! A store keeps the hash of every *perfect* subtree, addressed by `(level, index)`: the
//! node covers leaves `[index << level, (index + 1) << level)`, and level 0 holds the leaf
//! hashes themselves. Such a node is final the moment its last leaf arrives (an append-only
//! tree never changes it again), so each is written exactly once ([`completed_nodes`]) and
//! there are fewer than `2n` of them. The ragged nodes of the right spine, on the other
//! hand, change with every append; storing them would mean rewriting them.
//!
//! Instead they are recomputed. Every subtree met in the RFC's recursion over a tree of
//! size `n` covers an aligned range `[s, s + len)`, and its hash is the fold of the perfect
//! subtrees of `len`'s binary decomposition, largest first:
//! `MTH = node(P1, node(P2, … Pk))` (`k = popcount(len)`, each `Pi` aligned on its own
//! size because every larger piece before it is a multiple of it). A proof walks one path
//! from the root and meets at most one ragged sibling (the first time it turns left; below
//! that everything is perfect), so a root or a proof costs O(log n) store reads, for the
//! current size or any earlier one.
//!
//! # Verification
//!
//! [`verify_inclusion`] and [`verify_consistency`] are pure functions of their arguments,
//! written after the iterative algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 (which accept
//! exactly the proofs RFC 6962 §2.1.1–2.1.2 produce). A proof binds a hash to a root; it is
//! the signed checkpoint, which carries both size and root, that binds the size.

use std::fmt;

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf hash, an interior node or a root.
pub type Hash = [u8; 32];

/// A stored perfect node: `(level, index, hash)`, covering leaves
/// `[index << level, (index + 1) << level)`.
pub type PerfectNode = (u32, u64, Hash);

/// The RFC 6962 leaf hash, `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The RFC 6962 interior node hash, `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Read access to the stored perfect subtrees of one tree.
///
/// `node(level, index)` is the hash of the perfect subtree over leaves
/// `[index << level, (index + 1) << level)`; level 0 is the leaf hashes. The functions of
/// this module only ask for nodes that are complete within the tree size they are given,
/// so a store that lacks one is behind (or corrupt) and should say so in its error.
pub trait Nodes {
    /// Why a node could not be read (a database error, a missing key, …).
    type Error;

    /// The hash of the perfect subtree at `(level, index)`.
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError<E> {
    /// An inclusion proof was asked for a leaf that is not in the tree (`index >= size`).
    OutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was requested in.
        size: u64,
    },
    /// A consistency proof was asked for sizes other than `0 < old_size <= new_size`.
    InvalidSizes {
        /// The earlier tree size.
        old_size: u64,
        /// The later tree size.
        new_size: u64,
    },
    /// The node store failed.
    Store(E),
}

impl<E: fmt::Display> fmt::Display for ProofError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { index, size } => {
                write!(f, "leaf index {index} is not in a tree of size {size}")
            }
            Self::InvalidSizes { old_size, new_size } => write!(
                f,
                "no consistency proof from tree size {old_size} to {new_size} \
                 (sizes must satisfy 0 < old <= new)"
            ),
            Self::Store(e) => write!(f, "Merkle node store: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ProofError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// The largest power of two strictly below `n`: the RFC's split point. Needs `n >= 2`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The hash of the subtree over the aligned range `[start, start + len)` of the RFC's
/// recursion, folded from the perfect nodes of `len`'s binary decomposition (see the module
/// documentation). `len == 0` is the empty tree.
fn subtree_hash<N: Nodes + ?Sized>(start: u64, len: u64, nodes: &N) -> Result<Hash, N::Error> {
    let mut parts = Vec::with_capacity(len.count_ones() as usize);
    let mut pos = start;
    for level in (0..u64::BITS).rev() {
        if (len >> level) & 1 == 1 {
            parts.push(nodes.node(level, pos >> level)?);
            // Stays within start + len, which the callers keep within the tree size.
            pos += 1 << level;
        }
    }
    // MTH = node(P1, node(P2, … Pk)): fold from the smallest, rightmost piece.
    let Some(mut acc) = parts.pop() else {
        return Ok(empty_root());
    };
    while let Some(left) = parts.pop() {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// The root of the tree made of the first `size` leaves of `nodes` (`size` 0 gives
/// [`empty_root`]). Reads `popcount(size)` nodes.
pub fn root<N: Nodes + ?Sized>(size: u64, nodes: &N) -> Result<Hash, N::Error> {
    subtree_hash(0, size, nodes)
}

/// The perfect nodes that become complete when leaf `index` is appended, leaves
/// `0..index` being stored already: the leaf itself at level 0, then one parent per level
/// for as long as the new node is a right child. Store them all (in one batch); no stored
/// node is ever replaced. Reads `index.trailing_ones()` nodes, the left siblings.
///
/// The last element is the highest new node. Once they are stored, the root of the new
/// size `index + 1` is [`root`] as usual.
pub fn completed_nodes<N: Nodes + ?Sized>(
    index: u64,
    leaf: Hash,
    nodes: &N,
) -> Result<Vec<PerfectNode>, N::Error> {
    let mut out = vec![(0, index, leaf)];
    let (mut level, mut i, mut hash) = (0u32, index, leaf);
    // An odd index is a right child: its left sibling was completed earlier, so the parent
    // is complete now too. An even index starts a new pair and completes nothing above.
    while i & 1 == 1 {
        let left = nodes.node(level, i - 1)?;
        hash = node_hash(&left, &hash);
        level += 1;
        i >>= 1;
        out.push((level, i, hash));
    }
    Ok(out)
}

/// Every perfect node of the tree over `leaves`, level by level from the leaves up and left
/// to right within a level: what a sealed block writes in one batch.
pub fn all_perfect_nodes(leaves: &[Hash]) -> Vec<PerfectNode> {
    MemTree::new(leaves.to_vec()).perfect_nodes().collect()
}

/// The RFC 6962 §2.1.1 audit path of leaf `index` in the tree of the first `size` leaves,
/// from the leaf's sibling up to the root's other child. Empty for a one-leaf tree.
pub fn inclusion_proof<N: Nodes + ?Sized>(
    index: u64,
    size: u64,
    nodes: &N,
) -> Result<Vec<Hash>, ProofError<N::Error>> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    // PATH(m, D[n]) appends the sibling of each level after the path below it, so walk
    // down from the root collecting siblings and reverse at the end. `index` is relative
    // to the range [start, start + len) being walked.
    let mut path = Vec::new();
    let (mut start, mut len, mut index) = (0u64, size, index);
    while len > 1 {
        let k = split(len);
        if index < k {
            path.push(subtree_hash(start + k, len - k, nodes).map_err(ProofError::Store)?);
            len = k;
        } else {
            path.push(subtree_hash(start, k, nodes).map_err(ProofError::Store)?);
            start += k;
            len -= k;
            index -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The RFC 6962 §2.1.2 consistency proof `PROOF(old_size, D[new_size])` between the trees
/// of the first `old_size` and `new_size` leaves. Empty when the sizes are equal; sizes
/// other than `0 < old_size <= new_size` are [`ProofError::InvalidSizes`].
pub fn consistency_proof<N: Nodes + ?Sized>(
    old_size: u64,
    new_size: u64,
    nodes: &N,
) -> Result<Vec<Hash>, ProofError<N::Error>> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::InvalidSizes { old_size, new_size });
    }
    // SUBPROOF(m, D[start:start+len], b) unrolled. `b` (the RFC's flag) stays true while
    // the range starts at leaf 0: then D[start:start+m] is the whole old tree, whose hash
    // the verifier already holds (the old root), so it is left out of the proof.
    let mut proof = Vec::new();
    let (mut start, mut len, mut m, mut b) = (0u64, new_size, old_size, true);
    while m < len {
        let k = split(len);
        if m <= k {
            proof.push(subtree_hash(start + k, len - k, nodes).map_err(ProofError::Store)?);
            len = k;
        } else {
            proof.push(subtree_hash(start, k, nodes).map_err(ProofError::Store)?);
            start += k;
            len -= k;
            m -= k;
            b = false;
        }
    }
    if !b {
        proof.push(subtree_hash(start, len, nodes).map_err(ProofError::Store)?);
    }
    // As for PATH: the innermost part comes first in the RFC's list.
    proof.reverse();
    Ok(proof)
}

/// Whether `path` proves that `leaf` (a leaf hash, not raw data) is leaf `index` of the
/// tree of `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
///
/// False for `index >= size` and for any path of the wrong length. The size is only as
/// trustworthy as its source: take it from a signed checkpoint together with the root.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    // `f` and `s` are the RFC's `fn` and `sn`: the node's index and the last index on the
    // current level. Each step shifts `s` at least once, so it reaches 0 after exactly as
    // many steps as the path must have: a longer path fails on `s == 0`, a shorter one on
    // the final check, and a hostile one after at most 64 hashes.
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            // `p` was a left sibling. A last node of its level with no right sibling
            // rises unchanged until it is a right child: skip those levels.
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Whether `proof` proves that the tree of `old_size` leaves with root `old_root` is a
/// prefix of the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots. False for `old_size == 0` (an empty old
/// tree proves nothing, and [`consistency_proof`] refuses it too) and for
/// `old_size > new_size`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    // When the old tree is perfect it is a node of the new tree and the proof leaves it
    // out (the RFC's flag); the algorithm then starts from the old root itself.
    let (seed, rest) = match proof.split_first() {
        None => return false,
        Some(_) if old_size.is_power_of_two() => (old_root, proof),
        Some((first, rest)) => (first, rest),
    };
    // As in `verify_inclusion`, walking up from the old tree's last leaf; `fr` rebuilds
    // the old root and `sr` the new one, and the length is checked by `s` reaching 0.
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *old_root && sr == *new_root
}

/// Lower-case hex of a hash, as shown in the console and written in checkpoints.
pub fn to_hex(hash: &Hash) -> String {
    hex::encode(hash)
}

/// A hash from exactly 64 hex digits (either case); `None` for anything else.
pub fn from_hex(s: &str) -> Option<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// A node that a [`MemTree`] does not hold: asked for beyond its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingNode {
    /// The level asked for.
    pub level: u32,
    /// The index asked for.
    pub index: u64,
}

impl fmt::Display for MissingNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no Merkle node at level {}, index {}",
            self.level, self.index
        )
    }
}

impl std::error::Error for MissingNode {}

/// A whole tree in memory with all its perfect nodes, for sealing a block (root and nodes
/// in one go) and for tests. As a [`Nodes`] store it answers [`MissingNode`] past its size
/// rather than panicking, so it is safe with sizes from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemTree {
    /// `levels[l][i]` is node `(l, i)`; `levels[0]` are the leaf hashes and is always there.
    levels: Vec<Vec<Hash>>,
}

impl MemTree {
    /// The tree over these leaf hashes (see [`leaf_hash`]).
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|l| l.len() >= 2) {
            // A trailing odd node has no pair yet: not a perfect node one level up.
            let above = below
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(above);
        }
        Self { levels }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        match root(self.size(), self) {
            Ok(hash) => hash,
            // `root` only reads nodes complete within the size given, and `new` built all.
            Err(missing) => unreachable!("MemTree lacks its own {missing}"),
        }
    }

    /// Every perfect node, in the order of [`all_perfect_nodes`].
    pub fn perfect_nodes(&self) -> impl Iterator<Item = PerfectNode> + '_ {
        self.levels.iter().zip(0u32..).flat_map(|(hashes, level)| {
            hashes
                .iter()
                .zip(0u64..)
                .map(move |(hash, index)| (level, index, *hash))
        })
    }
}

impl Nodes for MemTree {
    type Error = MissingNode;

    fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        let row = usize::try_from(level).ok().and_then(|l| self.levels.get(l));
        let hash = row.and_then(|row| usize::try_from(index).ok().and_then(|i| row.get(i)));
        hash.copied().ok_or(MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    // ---- An independent reference, transcribed from RFC 6962 §2.1 over raw leaf data ----
    //
    // Written from the RFC's recursive definitions and its own SHA-256 calls, on purpose
    // sharing nothing with the code above but the `Hash` type.

    fn ref_leaf(data: &[u8]) -> Hash {
        Sha256::digest([&[0x00u8][..], data].concat()).into()
    }

    fn ref_node(left: &Hash, right: &Hash) -> Hash {
        Sha256::digest([&[0x01u8][..], left, right].concat()).into()
    }

    /// The largest power of two smaller than `n` (`n > 1`).
    fn ref_k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH(D[n]).
    fn mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            0 => Sha256::digest([]).into(),
            1 => ref_leaf(&d[0]),
            n => {
                let k = ref_k(n);
                ref_node(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    /// PATH(m, D[n]).
    fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        let n = d.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = ref_k(n);
        let (mut p, sibling) = if m < k {
            (path(m, &d[..k]), mth(&d[k..]))
        } else {
            (path(m - k, &d[k..]), mth(&d[..k]))
        };
        p.push(sibling);
        p
    }

    /// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
    fn proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        subproof(m, d, true)
    }

    fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = ref_k(n);
        let (mut p, sibling) = if m <= k {
            (subproof(m, &d[..k], b), mth(&d[k..]))
        } else {
            (subproof(m - k, &d[k..], false), mth(&d[..k]))
        };
        p.push(sibling);
        p
    }

    /// The length of PATH(m, D[n]), without hashing.
    fn path_len(m: usize, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let k = ref_k(n);
        1 + if m < k {
            path_len(m, k)
        } else {
            path_len(m - k, n - k)
        }
    }

    /// The length of PROOF(m, D[n]), without hashing.
    fn proof_len(m: usize, n: usize, b: bool) -> usize {
        if m == n {
            return usize::from(!b);
        }
        let k = ref_k(n);
        1 + if m <= k {
            proof_len(m, k, b)
        } else {
            proof_len(m - k, n - k, false)
        }
    }

    // ---- Fixtures ----

    const MAX: usize = 70;

    fn data() -> Vec<Vec<u8>> {
        (0..MAX)
            .map(|i| format!("event {i}").into_bytes())
            .collect()
    }

    /// The reference roots of `d[..n]` for every `n` in `0..=d.len()`.
    fn ref_roots(d: &[Vec<u8>]) -> Vec<Hash> {
        (0..=d.len()).map(|n| mth(&d[..n])).collect()
    }

    fn memtree(d: &[Vec<u8>]) -> MemTree {
        MemTree::new(d.iter().map(|x| leaf_hash(x)).collect())
    }

    /// A node store like the ledger's: a map, failing on absent keys.
    #[derive(Default)]
    struct MapStore(BTreeMap<(u32, u64), Hash>);

    impl Nodes for MapStore {
        type Error = MissingNode;
        fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
            self.0
                .get(&(level, index))
                .copied()
                .ok_or(MissingNode { level, index })
        }
    }

    /// A genuine tree of up to 2^64 - 1 equal leaves: every node of a level has the same
    /// hash, so it can be answered without storing anything. For the extreme sizes.
    struct Uniform([Hash; 65]);

    impl Uniform {
        fn new(leaf: Hash) -> Self {
            let mut levels = [leaf; 65];
            for l in 1..levels.len() {
                levels[l] = node_hash(&levels[l - 1], &levels[l - 1]);
            }
            Self(levels)
        }
    }

    impl Nodes for Uniform {
        type Error = MissingNode;
        fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
            self.0
                .get(level as usize)
                .copied()
                .ok_or(MissingNode { level, index })
        }
    }

    fn flipped(proof: &[Hash], i: usize) -> Vec<Hash> {
        let mut p = proof.to_vec();
        p[i][0] ^= 0x10;
        p
    }

    fn with(proof: &[Hash], front: Option<Hash>, back: Option<Hash>) -> Vec<Hash> {
        front
            .into_iter()
            .chain(proof.iter().copied())
            .chain(back)
            .collect()
    }

    // ---- Against the reference ----

    #[test]
    fn hashes_follow_the_rfc_definitions() {
        for d in [&b""[..], b"\x00", b"event", &[0xffu8; 100]] {
            assert_eq!(leaf_hash(d), ref_leaf(d));
        }
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        assert_eq!(node_hash(&a, &b), ref_node(&a, &b));
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
        // A leaf over two hashes is not the node over them: the prefixes at work.
        assert_ne!(node_hash(&a, &b), leaf_hash(&[a, b].concat()));
        assert_eq!(empty_root(), mth(&[]));
    }

    #[test]
    fn roots_match_the_reference_for_every_size() {
        let d = data();
        let roots = ref_roots(&d);
        let big = memtree(&d);
        for n in 0..=MAX {
            let small = memtree(&d[..n]);
            assert_eq!(small.size(), n as u64);
            assert_eq!(small.root(), roots[n], "size {n}");
            // A past size read from the grown tree, as the ledger does.
            assert_eq!(root(n as u64, &big), Ok(roots[n]), "size {n} in {MAX}");
        }
    }

    #[test]
    fn inclusion_proofs_match_the_reference_and_verify() {
        let d = data();
        let roots = ref_roots(&d);
        let big = memtree(&d);
        let junk = [0x5a; 32];
        for n in 1..=MAX {
            let (size, root) = (n as u64, roots[n]);
            for i in 0..n {
                let (index, leaf) = (i as u64, leaf_hash(&d[i]));
                let p = inclusion_proof(index, size, &big).unwrap();
                assert_eq!(p, path(i, &d[..n]), "PATH({i}, D[{n}])");
                assert!(
                    verify_inclusion(&leaf, index, size, &p, &root),
                    "{i} in {n}"
                );

                let reject = |leaf: &Hash, index: u64, size: u64, p: &[Hash], root: &Hash| {
                    assert!(
                        !verify_inclusion(leaf, index, size, p, root),
                        "accepted a bad proof for {index} in {size} (was {i} in {n})"
                    );
                };
                for e in 0..p.len() {
                    reject(&leaf, index, size, &flipped(&p, e), &root);
                }
                if let Some((_, shorter)) = p.split_last() {
                    reject(&leaf, index, size, shorter, &root);
                }
                for extra in [junk, root, leaf] {
                    reject(&leaf, index, size, &with(&p, None, Some(extra)), &root);
                    reject(&leaf, index, size, &with(&p, Some(extra), None), &root);
                }
                reject(&junk, index, size, &p, &root);
                reject(&leaf, index, size, &p, &junk);
                reject(&leaf, index, size, &p, &empty_root());
                for j in (0..n).filter(|&j| j != i) {
                    reject(&leaf, j as u64, size, &p, &root);
                }
                for bad_index in [size, size + 1, u64::MAX] {
                    reject(&leaf, bad_index, size, &p, &root);
                }
                reject(&leaf, index, 0, &p, &root);
                let other_sizes = [
                    i + 1,
                    n - 1,
                    n + 1,
                    n / 2,
                    2 * n,
                    n.next_power_of_two(),
                    MAX,
                ];
                for m in other_sizes
                    .into_iter()
                    .filter(|&m| m > i && m != n && m <= MAX)
                {
                    // Against the genuine root of the claimed size: never.
                    reject(&leaf, index, m as u64, &p, &roots[m]);
                    // Against this root with another size: never when the proof shape
                    // differs. (Same shape is caught by the checkpoint binding the size.)
                    if path_len(i, m) != p.len() {
                        reject(&leaf, index, m as u64, &p, &root);
                    }
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_match_the_reference_and_verify() {
        let d = data();
        let roots = ref_roots(&d);
        let big = memtree(&d);
        let junk = [0xa5; 32];
        for n in 1..=MAX {
            for m in 1..=n {
                let (old, new) = (m as u64, n as u64);
                let (old_root, new_root) = (roots[m], roots[n]);
                let p = consistency_proof(old, new, &big).unwrap();
                assert_eq!(p, proof(m, &d[..n]), "PROOF({m}, D[{n}])");
                assert_eq!(p.len(), proof_len(m, n, true));
                assert!(
                    verify_consistency(old, new, &old_root, &new_root, &p),
                    "{m} to {n}"
                );

                let reject = |old: u64, new: u64, old_root: &Hash, new_root: &Hash, p: &[Hash]| {
                    assert!(
                        !verify_consistency(old, new, old_root, new_root, p),
                        "accepted a bad proof from {old} to {new} (was {m} to {n})"
                    );
                };
                reject(0, new, &old_root, &new_root, &p);
                reject(new + 1, new, &old_root, &new_root, &p);
                if m == n {
                    assert!(p.is_empty());
                    reject(old, new, &old_root, &junk, &p);
                    reject(old, new, &old_root, &new_root, &[old_root]);
                    continue;
                }
                reject(old, new, &old_root, &new_root, &[]);
                reject(old, new, &new_root, &old_root, &p);
                reject(old, new, &junk, &new_root, &p);
                reject(old, new, &old_root, &junk, &p);
                for e in 0..p.len() {
                    reject(old, new, &old_root, &new_root, &flipped(&p, e));
                }
                reject(old, new, &old_root, &new_root, &p[..p.len() - 1]);
                for extra in [junk, old_root, new_root, p[0]] {
                    reject(old, new, &old_root, &new_root, &with(&p, None, Some(extra)));
                    reject(old, new, &old_root, &new_root, &with(&p, Some(extra), None));
                }
                // This proof passed off as one between other (genuine) checkpoints.
                for m2 in [1, m - 1, m + 1, m / 2, 2 * m, n - 1, n] {
                    if m2 != m && (1..=n).contains(&m2) {
                        reject(m2 as u64, new, &roots[m2], &new_root, &p);
                    }
                }
                for n2 in [m, n - 1, n + 1, 2 * n, n.next_power_of_two(), MAX] {
                    if n2 != n && (m..=MAX).contains(&n2) {
                        reject(old, n2 as u64, &old_root, &roots[n2], &p);
                    }
                }
            }
        }
    }

    #[test]
    fn appending_leaf_by_leaf_stores_exactly_the_perfect_nodes() {
        let d = data();
        let roots = ref_roots(&d);
        let leaves: Vec<Hash> = d.iter().map(|x| leaf_hash(x)).collect();
        let mut store = MapStore::default();
        for (i, leaf) in leaves.iter().enumerate() {
            let index = i as u64;
            let new = completed_nodes(index, *leaf, &store).unwrap();
            assert_eq!(new[0], (0, index, *leaf));
            assert_eq!(new.len() as u32, 1 + index.trailing_ones());
            for (level, idx, hash) in new {
                let before = store.0.insert((level, idx), hash);
                assert_eq!(before, None, "node ({level}, {idx}) written twice");
            }
            let stored: BTreeSet<PerfectNode> =
                store.0.iter().map(|(&(l, i), &h)| (l, i, h)).collect();
            let batch: BTreeSet<PerfectNode> =
                all_perfect_nodes(&leaves[..=i]).into_iter().collect();
            assert_eq!(stored, batch, "after {} leaves", i + 1);
            assert_eq!(root(index + 1, &store), Ok(roots[i + 1]));
        }
        // Proofs from the incrementally built store are those of the in-memory tree.
        let mem = MemTree::new(leaves);
        for (m, n) in [(1, 70), (13, 64), (64, 70), (33, 35)] {
            assert_eq!(
                consistency_proof(m, n, &store).unwrap(),
                consistency_proof(m, n, &mem).unwrap()
            );
            assert_eq!(
                inclusion_proof(m - 1, n, &store).unwrap(),
                inclusion_proof(m - 1, n, &mem).unwrap()
            );
        }
    }

    // ---- Errors and hostile input ----

    #[test]
    fn bad_requests_and_missing_nodes_are_errors() {
        let tree = memtree(&data()[..5]);
        type E = ProofError<MissingNode>;
        assert_eq!(
            inclusion_proof(5, 5, &tree),
            Err(E::OutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            inclusion_proof(0, 0, &tree),
            Err(E::OutOfRange { index: 0, size: 0 })
        );
        for (old_size, new_size) in [(0, 0), (0, 5), (6, 5)] {
            let err = E::InvalidSizes { old_size, new_size };
            assert_eq!(consistency_proof(old_size, new_size, &tree), Err(err));
        }
        // Beyond what the store holds: its error, not a panic.
        let missing = MissingNode { level: 1, index: 2 };
        assert_eq!(root(6, &tree), Err(missing));
        assert_eq!(inclusion_proof(0, 6, &tree), Err(E::Store(missing)));
        assert_eq!(consistency_proof(2, 6, &tree), Err(E::Store(missing)));
        assert!(matches!(
            completed_nodes(1, [0; 32], &MapStore::default()),
            Err(MissingNode { level: 0, index: 0 })
        ));
        let err: Box<dyn std::error::Error> = Box::new(E::Store(missing));
        assert_eq!(
            err.to_string(),
            "Merkle node store: no Merkle node at level 1, index 2"
        );
        assert!(err.source().is_some());
    }

    #[test]
    fn extreme_sizes_neither_overflow_nor_panic() {
        let tree = Uniform::new(leaf_hash(b"same"));
        // The uniform store is a real RFC tree: check it against the reference first.
        let same: Vec<Vec<u8>> = vec![b"same".to_vec(); 9];
        for n in 0..=same.len() {
            assert_eq!(root(n as u64, &tree), Ok(mth(&same[..n])));
        }
        let leaf = tree.0[0];
        let top = u64::MAX;
        for (index, size) in [
            (top - 1, top),
            (0, top),
            (1 << 63, top),
            (top >> 1, 1 << 63),
        ] {
            let p = inclusion_proof(index, size, &tree).unwrap();
            let r = root(size, &tree).unwrap();
            assert!(verify_inclusion(&leaf, index, size, &p, &r));
            assert!(!verify_inclusion(&leaf, index, size, &p[1..], &r));
        }
        for (old, new) in [
            (1, top),
            (top - 1, top),
            (1 << 63, top),
            (12_345, (1 << 40) + 7),
        ] {
            let p = consistency_proof(old, new, &tree).unwrap();
            let (r1, r2) = (root(old, &tree).unwrap(), root(new, &tree).unwrap());
            assert!(verify_consistency(old, new, &r1, &r2, &p));
            assert!(!verify_consistency(old, new, &r1, &r2, &p[1..]));
        }
        assert_eq!(completed_nodes(top, leaf, &tree).unwrap().len(), 65);

        // Long garbage is turned down after at most 64 steps.
        let garbage = vec![[7u8; 32]; 10_000];
        let h = [1u8; 32];
        assert!(!verify_inclusion(&h, top - 1, top, &garbage, &h));
        assert!(!verify_inclusion(&h, 0, 1, &garbage, &h));
        assert!(!verify_inclusion(&h, 0, 0, &[], &h));
        assert!(!verify_inclusion(&h, top, top, &[], &h));
        assert!(!verify_consistency(top - 1, top, &h, &h, &garbage));
        assert!(!verify_consistency(1, top, &h, &h, &[]));
        assert!(!verify_consistency(0, top, &h, &h, &[]));
        assert!(!verify_consistency(top, 1, &h, &h, &[]));
        assert!(verify_consistency(top, top, &h, &h, &[]));
        // A one-leaf tree: the root is the leaf hash and the path is empty.
        assert!(verify_inclusion(&h, 0, 1, &[], &h));
    }

    #[test]
    fn hex_round_trips_and_rejects_malformed_input() {
        let h = leaf_hash(b"x");
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
        assert_eq!(from_hex(&to_hex(&h).to_uppercase()), Some(h));
        let good = to_hex(&h);
        assert_eq!(from_hex(&good[..63]), None);
        assert_eq!(from_hex(&good[..62]), None);
        assert_eq!(from_hex(&format!("{good}00")), None);
        assert_eq!(from_hex(&good.replace(&good[..1], "g")), None);
        assert_eq!(from_hex(""), None);
    }

    // ---- Published test vectors ----
    //
    // From transparency-dev/merkle (the Trillian / certificate-transparency-go lineage):
    // * testonly/constants.go: LeafInputs, NodeHashes, RootHashes;
    // * proof/verify_test.go: inclusionProofs (leaf numbers there are 1-based), and
    //   consistencyProofs;
    // * rfc6962/rfc6962_test.go: the empty-root, empty-leaf and "L123456" leaf hashes.
    // Its node-hash vector, HashChildren("N123", "N456"), hashes 4-byte children and does
    // not fit `node_hash(&Hash, &Hash)`, so it is left out.

    fn hx(s: &str) -> Hash {
        from_hex(s).unwrap()
    }

    fn vector_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|s| hex::decode(s).unwrap())
        .collect()
    }

    /// RootHashes(), indexed by tree size 0..=8.
    const VECTOR_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// NodeHashes(): the perfect nodes of the 8-leaf tree, level by level.
    const VECTOR_NODES: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];

    #[test]
    fn published_hash_vectors() {
        let e3b0 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let leaf_empty = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
        let leaf_l123456 = "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56";
        assert_eq!(empty_root(), hx(e3b0));
        assert_eq!(leaf_hash(b""), hx(leaf_empty));
        assert_eq!(leaf_hash(b"L123456"), hx(leaf_l123456));
    }

    #[test]
    fn published_tree_vectors() {
        let d = vector_leaves();
        let leaves: Vec<Hash> = d.iter().map(|x| leaf_hash(x)).collect();
        let tree = MemTree::new(leaves.clone());
        for (n, want) in VECTOR_ROOTS.iter().enumerate() {
            assert_eq!(root(n as u64, &tree), Ok(hx(want)), "size {n}");
            assert_eq!(MemTree::new(leaves[..n].to_vec()).root(), hx(want));
            // The test's reference agrees with the published values too.
            assert_eq!(mth(&d[..n]), hx(want));
        }
        let want_nodes: Vec<PerfectNode> = (0u32..)
            .zip(VECTOR_NODES)
            .flat_map(|(level, row)| {
                (0u64..)
                    .zip(row.iter())
                    .map(move |(i, h)| (level, i, hx(h)))
            })
            .collect();
        assert_eq!(all_perfect_nodes(&leaves), want_nodes);

        // inclusionProofs: {leaf (1-based), size, proof}.
        let inclusion: [(u64, u64, &[&str]); 5] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                3,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                2,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (leaf, size, want) in inclusion {
            let want: Vec<Hash> = want.iter().map(|h| hx(h)).collect();
            let index = leaf - 1;
            assert_eq!(inclusion_proof(index, size, &tree), Ok(want.clone()));
            let root = hx(VECTOR_ROOTS[size as usize]);
            assert!(verify_inclusion(
                &leaves[index as usize],
                index,
                size,
                &want,
                &root
            ));
        }

        // consistencyProofs: {size1, size2, proof}.
        let consistency: [(u64, u64, &[&str]); 5] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (old, new, want) in consistency {
            let want: Vec<Hash> = want.iter().map(|h| hx(h)).collect();
            assert_eq!(consistency_proof(old, new, &tree), Ok(want.clone()));
            let (r1, r2) = (
                hx(VECTOR_ROOTS[old as usize]),
                hx(VECTOR_ROOTS[new as usize]),
            );
            assert!(verify_consistency(old, new, &r1, &r2, &want));
        }
    }
}
