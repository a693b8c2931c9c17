//! The Merkle tree of RFC 9162 §2.1 (the same tree as RFC 6962 §2.1), over SHA-256, which
//! makes the audit log tamper-evident: a signed root commits to every entry before it, an
//! inclusion proof shows one entry is under a root, and a consistency proof shows a later
//! root only appended to an earlier one, so no entry was changed or dropped in between.
//!
//! Leaves and inner nodes hash with different one-byte prefixes (`0x00` and `0x01`). Without
//! that domain separation an inner node's two children, concatenated, could be passed off
//! as a leaf with the same hash (a second preimage), and a proof could then stop short of
//! the leaves.
//!
//! The free functions take every leaf hash of the tree and cost O(n); they follow the
//! RFC's recursive definitions, and the tests hold everything else to them. The verifiers
//! need only the proof, so they are what a client, or an auditor with only signed roots,
//! runs. [`CompactTree`] keeps just the O(log n) hashes needed to append and to compute the
//! root, so a log of millions of entries never has to be read whole to extend it.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an inner node's hash, or a tree's root.
pub type Hash = [u8; 32];

/// Domain-separation prefixes of RFC 9162 §2.1.1.
const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// Why a proof could not be built or did not verify.
///
/// Every verification failure means the same thing to a caller, that the claim is not
/// proven; the variants say where it broke, for the log and for whoever investigates.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("the leaf index is not less than the tree size")]
    IndexOutOfRange,
    #[error(
        "the tree size is out of range: the older tree is larger than the newer one, or than the leaves given"
    )]
    SizeOutOfRange,
    #[error("the proof has the wrong number of hashes for the tree sizes it claims")]
    WrongProofLength,
    #[error("the root the proof leads to is not the one expected")]
    RootMismatch,
    #[error("a hash is {len} bytes long, not 32")]
    MalformedHash { len: usize },
    #[error(
        "a compact tree of size {size} has one hash per set bit of its size ({}), not {len}",
        .size.count_ones()
    )]
    MalformedFrontier { size: u64, len: usize },
}

/// The hash of one leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an inner node from its children's: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    hash_children(left, right)
}

/// [`node_hash`] over byte strings of any length, so the tests can use the reference
/// vectors whose "children" are not 32 bytes long.
fn hash_children(left: &[u8], right: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree, SHA-256 of the empty string (RFC 9162 §2.1.1). It is not
/// the hash of an empty leaf, which is prefixed like every other leaf.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A hash read from storage or the wire, refused unless exactly 32 bytes long.
pub fn hash_from_slice(bytes: &[u8]) -> Result<Hash, ProofError> {
    Hash::try_from(bytes).map_err(|_| ProofError::MalformedHash { len: bytes.len() })
}

/// Where a tree of `n > 1` leaves splits: the largest power of two strictly less than
/// `n`, so the left subtree is always perfect and as large as it can be.
fn split(n: usize) -> usize {
    debug_assert!(n > 1, "only a tree of two or more leaves splits");
    1 << (n - 1).ilog2()
}

/// The Merkle Tree Hash, MTH, of a list of leaves that are already hashed (RFC 9162
/// §2.1.1). Taking leaf hashes rather than entries lets the log store one hash per entry
/// and never re-read the entries themselves.
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let k = split(leaf_hashes.len());
            node_hash(&root(&leaf_hashes[..k]), &root(&leaf_hashes[k..]))
        }
    }
}

/// The inclusion proof (audit path) of the leaf at `index` in the tree of all of
/// `leaf_hashes` (RFC 9162 §2.1.3.1): the hashes of the siblings on the way from the leaf
/// up to the root, lowest first. A tree of one leaf has an empty proof; the empty tree has
/// no leaf to prove.
pub fn inclusion_proof(leaf_hashes: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let index = usize::try_from(index)
        .ok()
        .filter(|&index| index < leaf_hashes.len())
        .ok_or(ProofError::IndexOutOfRange)?;
    let mut proof = Vec::new();
    path(index, leaf_hashes, &mut proof);
    Ok(proof)
}

/// PATH(m, D[n]) of RFC 9162 §2.1.3.1. The recursion appends the sibling of each subtree
/// after the path inside it, which puts the proof in the lowest-first order.
fn path(m: usize, leaves: &[Hash], proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &leaves[..k], proof);
        proof.push(root(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], proof);
        proof.push(root(&leaves[..k]));
    }
}

/// Checks that `leaf_hash` is the leaf at `index` in the tree of `tree_size` leaves whose
/// root is `root`, by the algorithm of RFC 9162 §2.1.3.2, step for step.
///
/// The walk works out from `index` and `tree_size` alone whether each proof hash is a
/// left or a right sibling, and how many there must be: a proof with a hash too many runs
/// out of tree (`sn` reaches 0 first) and one with a hash too few leaves some (`sn` is not
/// 0 at the end), so both fail as [`ProofError::WrongProofLength`] before the root is even
/// compared. As with [`verify_consistency`], `tree_size` must come from the same signed
/// tree head as `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // 1. An index at or past the end is in no tree of this size. This also refuses every
    //    proof for the empty tree.
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange);
    }
    // 2. fn is the node's index at the current level and sn the last index at that level.
    let mut fn_ = index;
    let mut sn = tree_size - 1;
    // 3.
    let mut r = *leaf_hash;
    // 4.
    for p in proof {
        // a. Already at the root, yet the proof goes on.
        if sn == 0 {
            return Err(ProofError::WrongProofLength);
        }
        // b. The node is a right child, or the last node of its level, which has no right
        //    sibling and so rises unchanged until it becomes a right child.
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        // c.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. Too short a proof stops below the root.
    if sn != 0 {
        return Err(ProofError::WrongProofLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The consistency proof that the tree of the first `old_size` of `leaf_hashes` is a
/// prefix of the tree of all of them (RFC 9162 §2.1.4.1).
///
/// The RFC defines the proof for `0 < old_size < n`. At the edges nothing needs proving,
/// so the proof is empty: a tree is consistent with itself (the RFC's SUBPROOF(m, D[m],
/// true) is empty too), and the empty tree, whose root is fixed, is a prefix of every
/// tree. [`verify_consistency`] accepts exactly those empty proofs.
pub fn consistency_proof(leaf_hashes: &[Hash], old_size: u64) -> Result<Vec<Hash>, ProofError> {
    let old_size = usize::try_from(old_size)
        .ok()
        .filter(|&old_size| old_size <= leaf_hashes.len())
        .ok_or(ProofError::SizeOutOfRange)?;
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(old_size, leaf_hashes, true, &mut proof);
    }
    Ok(proof)
}

/// SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1, for `m >= 1`. `b` says whether the subtree
/// being descended is still the old tree's own left edge: while it is, the verifier knows
/// the old root and the subtree's hash is left out; once the descent turns right, the old
/// tree's subtree hash is not known to the verifier and has to be given.
fn subproof(m: usize, leaves: &[Hash], b: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !b {
            proof.push(root(leaves));
        }
        return;
    }
    // Here 1 <= m < n, so n >= 2 and the tree splits.
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], b, proof);
        proof.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root` by appending only.
///
/// For `0 < old_size < new_size` this is the algorithm of RFC 9162 §2.1.4.2, step for
/// step. Every hash of the proof is consumed by the walk, and the walk itself fixes how
/// many there must be, so leftover or missing hashes fail as
/// [`ProofError::WrongProofLength`] whatever they contain.
///
/// The sizes are taken as given, as the RFC's algorithm takes them: a proof binds each
/// root to a tree shape, and neighbouring sizes can share a shape. They must therefore come
/// from the same signed tree heads as the roots, never from the party supplying the proof.
///
/// Outside that range the RFC has no proof to check, and the answer follows from the
/// definitions, with the proof required to be empty:
/// - `old_size > new_size`: a log cannot shrink, [`ProofError::SizeOutOfRange`].
/// - `old_size == new_size`: the same tree, so the roots must be equal.
/// - `old_size == 0`: the empty tree is a prefix of every tree, but its root is fixed
///   (SHA-256 of the empty string, §2.1.1), so `old_root` must be that. (The Go reference
///   implementation ignores the old root here; this is stricter on purpose, since a
///   size-0 tree head with any other root is malformed.)
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizeOutOfRange);
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength);
        }
        if old_size == 0 && *old_root != empty_root() {
            return Err(ProofError::RootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }

    // 1. Between two different non-empty trees there is always something to prove.
    let Some((head, tail)) = proof.split_first() else {
        return Err(ProofError::WrongProofLength);
    };
    // 2. When the old tree is perfect (its size a power of two) it is a whole subtree of
    //    the new one, its hash is the old root, and the proof leaves it out. Rather than
    //    copy the proof to prepend the old root, walk from it over the whole proof.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (head, tail)
    };
    // 3.
    let mut fn_ = old_size - 1;
    let mut sn = new_size - 1;
    // 4. Rise past the levels where the old tree's last node is a right child: the first
    //    proof hash is the largest complete subtree ending at the old tree's last leaf.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. fr rebuilds the old root and sr the new one, from the same starting subtree.
    let mut fr = *first;
    let mut sr = *first;
    // 6.
    for c in rest {
        // a. Already at the new root, yet the proof goes on: extra elements are refused
        //    here rather than ignored.
        if sn == 0 {
            return Err(ProofError::WrongProofLength);
        }
        // b. A left sibling belongs to both trees; a right sibling only to the new one.
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        // c.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7. The proof must have reached the new root, and both roots must match.
    if sn != 0 {
        return Err(ProofError::WrongProofLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// An append-only Merkle tree that keeps only its frontier: the roots of the perfect
/// subtrees that together cover every leaf, one for each set bit of the size, the
/// largest (leftmost) first. That is at most 64 hashes for any size, enough to append a
/// leaf and to compute the root, which is all the log's writer needs; proofs need the
/// leaves and come from the free functions.
///
/// [`size`](Self::size) and [`frontier`](Self::frontier) are its whole state, and
/// [`from_parts`](Self::from_parts) restores it, so it can be stored beside the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactTree {
    size: u64,
    frontier: Vec<Hash>,
}

impl CompactTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree restored from its stored [`size`](Self::size) and
    /// [`frontier`](Self::frontier). A frontier that cannot belong to a tree of that size
    /// is refused; one of the right length but wrong hashes cannot be detected here, and
    /// shows as a root that no longer matches the signed one.
    pub fn from_parts(size: u64, frontier: Vec<Hash>) -> Result<Self, ProofError> {
        if u32::try_from(frontier.len()).ok() != Some(size.count_ones()) {
            return Err(ProofError::MalformedFrontier {
                size,
                len: frontier.len(),
            });
        }
        Ok(Self { size, frontier })
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the perfect subtrees covering the leaves, largest first.
    pub fn frontier(&self) -> &[Hash] {
        &self.frontier
    }

    /// Appends a leaf, given its [`leaf_hash`].
    ///
    /// The new leaf merges with the smallest subtrees of the frontier for as long as they
    /// are the same size as what it has grown into, as a carry ripples through the trailing
    /// set bits of the size when one is added.
    pub fn push(&mut self, leaf_hash: Hash) {
        let new_size = self
            .size
            .checked_add(1)
            .expect("a log cannot hold 2^64 entries");
        let mut hash = leaf_hash;
        let mut carry = self.size;
        while carry & 1 == 1 {
            let left = self
                .frontier
                .pop()
                .expect("the frontier holds one hash per set bit of the size");
            hash = node_hash(&left, &hash);
            carry >>= 1;
        }
        self.frontier.push(hash);
        self.size = new_size;
    }

    /// The tree's root, the same as [`root`] over all its leaves.
    ///
    /// The frontier is folded from the right: in MTH each split leaves the largest perfect
    /// subtree on the left and the rest on the right, and the rest is hashed the same way,
    /// so the smallest subtrees join first.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.frontier.iter().rev();
        match subtrees.next() {
            None => empty_root(),
            Some(last) => subtrees.fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

#[cfg(test)]
mod tests;
