//! Reference vectors are those of the Go project transparency-dev/merkle: the eight leaves,
//! node hashes, roots and compact-tree frontiers of `testonly/constants.go`, the hasher
//! vectors of `rfc6962/rfc6962_test.go`, the proofs of `proof/verify_test.go`, and every
//! case of `testdata/inclusion/` and `testdata/consistency/`, kept in
//! `tests/data/merkle/`. Past the vectors, generated trees check the proofs and the
//! compact tree against the recursive definitions for many more sizes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::*;

/// A hash from 64 hex digits.
fn h(hex: &str) -> Hash {
    assert_eq!(hex.len(), 64, "{hex} is not a 32-byte hash");
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).expect("hex is ASCII");
        *byte = u8::from_str_radix(pair, 16).expect("hex digits");
    }
    out
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
        .collect()
}

fn to_hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// `LeafInputs()` of testonly/constants.go.
const LEAF_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// `NodeHashes()`: the hashes of every complete subtree of the eight-leaf tree, by level
/// (leaves first) and then left to right.
const NODE_HASHES: [&[&str]; 4] = [
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

/// `RootHashes()`: the roots of the trees of the first 0 to 8 leaves.
const ROOTS: [&str; 9] = [
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

/// `CompactTrees()`: the frontier of each of those trees, as (level, index) in
/// [`NODE_HASHES`].
const FRONTIERS: [&[(usize, usize)]; 9] = [
    &[],
    &[(0, 0)],
    &[(1, 0)],
    &[(1, 0), (0, 2)],
    &[(2, 0)],
    &[(2, 0), (0, 4)],
    &[(2, 0), (1, 2)],
    &[(2, 0), (1, 2), (0, 6)],
    &[(3, 0)],
];

/// `inclusionProofs` of proof/verify_test.go, with the index made zero-based: (index,
/// tree size, proof).
const INCLUSION_PROOFS: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// `consistencyProofs` of proof/verify_test.go: (old size, new size, proof).
const CONSISTENCY_PROOFS: [(u64, u64, &[&str]); 5] = [
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

/// `abacaba…123456` of proof/verify_test.go, a hash that is in no tree here.
const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

fn leaves() -> Vec<Hash> {
    LEAF_INPUTS
        .iter()
        .map(|input| leaf_hash(&unhex(input)))
        .collect()
}

fn reference_root(size: usize) -> Hash {
    h(ROOTS[size])
}

fn hashes(hex: &[&str]) -> Vec<Hash> {
    hex.iter().map(|x| h(x)).collect()
}

/// `count` leaf hashes that differ from run to run; the seed is in every failure message.
fn random_leaves(count: usize) -> (u64, Vec<Hash>) {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).expect("the operating system's random source failed");
    let seed = u64::from_le_bytes(seed);
    let leaves = (0..count as u64)
        .map(|i| leaf_hash(&[seed.to_le_bytes(), i.to_le_bytes()].concat()))
        .collect();
    (seed, leaves)
}

// ---- hashing: rfc6962/rfc6962_test.go and testonly/constants.go ----

#[test]
fn empty_tree_root_is_sha256_of_nothing() {
    assert_eq!(
        to_hex(&empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(root(&[]), empty_root());
    assert_eq!(CompactTree::new().root(), empty_root());
}

#[test]
fn hasher_vectors() {
    // The empty leaf is prefixed, so it is not the empty tree.
    assert_eq!(
        to_hex(&leaf_hash(b"")),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    assert_ne!(leaf_hash(b""), empty_root());
    assert_eq!(
        to_hex(&leaf_hash(b"L123456")),
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    );
    assert_eq!(
        to_hex(&hash_children(b"N123", b"N456")),
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    );
}

#[test]
fn hasher_separates_leaves_from_nodes_and_orders_children() {
    let (hello, world) = (leaf_hash(b"Hello"), leaf_hash(b"World"));
    assert_ne!(hello, world);
    let node = node_hash(&hello, &world);
    // A node is not the leaf whose data is its children concatenated (second preimage).
    assert_ne!(node, leaf_hash(&[hello, world].concat()));
    assert_ne!(node, node_hash(&world, &hello));
}

#[test]
fn node_hashes_of_the_eight_leaf_tree() {
    let mut level = leaves();
    for (depth, expected) in NODE_HASHES.iter().enumerate() {
        assert_eq!(level, hashes(expected), "level {depth}");
        level = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    assert!(level.is_empty(), "the root has no parent");
}

#[test]
fn roots_of_every_prefix_of_the_eight_leaves() {
    let leaves = leaves();
    for size in 0..=8 {
        assert_eq!(root(&leaves[..size]), reference_root(size), "size {size}");
    }
}

#[test]
fn hash_from_slice_takes_exactly_32_bytes() {
    let root = reference_root(8);
    assert_eq!(hash_from_slice(&root), Ok(root));
    assert_eq!(
        hash_from_slice(&root[..31]),
        Err(ProofError::MalformedHash { len: 31 })
    );
    assert_eq!(
        hash_from_slice(b""),
        Err(ProofError::MalformedHash { len: 0 })
    );
}

// ---- inclusion ----

#[test]
fn inclusion_proofs_for_every_leaf_of_every_size_up_to_8() {
    let leaves = leaves();
    for size in 1..=8usize {
        let tree = &leaves[..size];
        let root = reference_root(size);
        for index in 0..size {
            let i = index as u64;
            let proof = inclusion_proof(tree, i).unwrap();
            assert_eq!(
                verify_inclusion(&leaves[index], i, size as u64, &proof, &root),
                Ok(()),
                "leaf {index} of {size}"
            );
            // Nor is the proof good for any other leaf, place or tree.
            for other in 0..size {
                if other != index {
                    assert!(
                        verify_inclusion(&leaves[other], i, size as u64, &proof, &root).is_err()
                    );
                    assert!(
                        verify_inclusion(&leaves[index], other as u64, size as u64, &proof, &root)
                            .is_err()
                    );
                }
            }
            for other_size in 1..=8usize {
                if other_size != size {
                    let other_root = reference_root(other_size);
                    assert!(
                        verify_inclusion(&leaves[index], i, other_size as u64, &proof, &other_root)
                            .is_err(),
                        "leaf {index} of {size} as of {other_size}"
                    );
                }
            }
        }
    }
}

#[test]
fn inclusion_proofs_match_the_reference_proofs() {
    let leaves = leaves();
    for (index, size, expected) in INCLUSION_PROOFS {
        let tree = &leaves[..size as usize];
        assert_eq!(
            inclusion_proof(tree, index).unwrap(),
            hashes(expected),
            "leaf {index} of {size}"
        );
        assert_eq!(
            verify_inclusion(
                &leaves[index as usize],
                index,
                size,
                &hashes(expected),
                &reference_root(size as usize)
            ),
            Ok(())
        );
    }
}

#[test]
fn inclusion_in_the_empty_tree_or_past_the_end_is_refused() {
    let leaves = leaves();
    // The empty tree has no leaves, so nothing is in it, whatever the proof.
    assert_eq!(inclusion_proof(&[], 0), Err(ProofError::IndexOutOfRange));
    let some = h(SOME_HASH);
    for (index, size) in [(0, 0), (1, 0), (1, 1), (2, 1), (8, 8), (u64::MAX, 8)] {
        for (leaf, root) in [(some, empty_root()), (leaves[0], leaves[0]), (some, some)] {
            assert_eq!(
                verify_inclusion(&leaf, index, size, &[], &root),
                Err(ProofError::IndexOutOfRange),
                "index {index} of {size}"
            );
        }
    }
    assert_eq!(
        inclusion_proof(&leaves, 8),
        Err(ProofError::IndexOutOfRange)
    );
    assert_eq!(
        inclusion_proof(&leaves, u64::MAX),
        Err(ProofError::IndexOutOfRange)
    );
}

#[test]
fn inclusion_in_a_single_leaf_tree() {
    let leaf = leaf_hash(b"data");
    // The root of a one-leaf tree is that leaf's hash, and the proof is empty.
    assert_eq!(inclusion_proof(&[leaf], 0), Ok(vec![]));
    assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
    assert_eq!(
        verify_inclusion(&leaf, 0, 1, &[], &empty_root()),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_inclusion(&empty_root(), 0, 1, &[], &leaf),
        Err(ProofError::RootMismatch)
    );
}

// ---- consistency ----

#[test]
fn consistency_proofs_for_every_pair_of_sizes_up_to_8() {
    let leaves = leaves();
    for new_size in 0..=8usize {
        let tree = &leaves[..new_size];
        let new_root = reference_root(new_size);
        for old_size in 0..=new_size {
            let old_root = reference_root(old_size);
            let proof = consistency_proof(tree, old_size as u64).unwrap();
            let (m, n) = (old_size as u64, new_size as u64);
            assert_eq!(
                verify_consistency(m, n, &proof, &old_root, &new_root),
                Ok(()),
                "{old_size} -> {new_size}"
            );
            if old_size == 0 || old_size == new_size {
                assert!(proof.is_empty(), "{old_size} -> {new_size}");
                continue;
            }
            // The proof is for these two tree heads and no others. A head is a size and
            // a root together (both come signed in the same checkpoint), so a wrong size
            // is tried with that size's own root.
            for other in 0..=8usize {
                let other_root = reference_root(other);
                if other != old_size {
                    assert!(verify_consistency(m, n, &proof, &other_root, &new_root).is_err());
                    assert!(
                        verify_consistency(other as u64, n, &proof, &other_root, &new_root)
                            .is_err(),
                        "{old_size} -> {new_size} as {other} -> {new_size}"
                    );
                }
                if other != new_size {
                    assert!(verify_consistency(m, n, &proof, &old_root, &other_root).is_err());
                    assert!(
                        verify_consistency(m, other as u64, &proof, &old_root, &other_root)
                            .is_err(),
                        "{old_size} -> {new_size} as {old_size} -> {other}"
                    );
                }
            }
        }
    }
}

#[test]
fn consistency_proofs_match_the_reference_proofs() {
    let leaves = leaves();
    for (old_size, new_size, expected) in CONSISTENCY_PROOFS {
        let tree = &leaves[..new_size as usize];
        assert_eq!(
            consistency_proof(tree, old_size).unwrap(),
            hashes(expected),
            "{old_size} -> {new_size}"
        );
        assert_eq!(
            verify_consistency(
                old_size,
                new_size,
                &hashes(expected),
                &reference_root(old_size as usize),
                &reference_root(new_size as usize)
            ),
            Ok(())
        );
    }
}

/// Old size, new size, old root, new root, proof, and the verdict on them.
type Claim<'a> = (
    u64,
    u64,
    &'a Hash,
    &'a Hash,
    &'a [Hash],
    Result<(), ProofError>,
);

/// The edge cases of TestVerifyConsistency in proof/verify_test.go, with this module's
/// stricter rule for size 0: the old root must then be the empty tree's.
#[test]
fn consistency_edge_cases() {
    let (root1, root2) = (h(&"11".repeat(32)), h(&"22".repeat(32)));
    let empty = empty_root();
    let leaves = leaves();
    let cases: [Claim; 15] = [
        (0, 0, &root1, &root2, &[], Err(ProofError::RootMismatch)),
        (1, 1, &root1, &root2, &[], Err(ProofError::RootMismatch)),
        // A tree is consistent with itself.
        (0, 0, &empty, &empty, &[], Ok(())),
        (1, 1, &root2, &root2, &[], Ok(())),
        // The empty tree is a prefix of every tree, whatever the new root...
        (0, 1, &empty, &root2, &[], Ok(())),
        (0, 8, &empty, &root2, &[], Ok(())),
        // ...but its own root is fixed.
        (0, 1, &root1, &root2, &[], Err(ProofError::RootMismatch)),
        // Time travel to the past.
        (1, 0, &root1, &root2, &[], Err(ProofError::SizeOutOfRange)),
        (2, 1, &root1, &root2, &[], Err(ProofError::SizeOutOfRange)),
        // Different trees need a proof.
        (1, 2, &root1, &root2, &[], Err(ProofError::WrongProofLength)),
        // Roots that match, with a proof that should not be there.
        (
            0,
            0,
            &empty,
            &empty,
            &[empty],
            Err(ProofError::WrongProofLength),
        ),
        (
            0,
            1,
            &empty,
            &empty,
            &[empty],
            Err(ProofError::WrongProofLength),
        ),
        (
            1,
            1,
            &empty,
            &empty,
            &[empty],
            Err(ProofError::WrongProofLength),
        ),
        (
            1,
            1,
            &leaves[0],
            &leaves[0],
            &[leaves[0]],
            Err(ProofError::WrongProofLength),
        ),
        (0, 0, &root1, &root1, &[], Err(ProofError::RootMismatch)),
    ];
    for (i, (old_size, new_size, old_root, new_root, proof, expected)) in cases.iter().enumerate() {
        assert_eq!(
            verify_consistency(*old_size, *new_size, proof, old_root, new_root),
            *expected,
            "case {i}: {old_size} -> {new_size}"
        );
    }
    // Building a proof from a larger tree than there are leaves is refused.
    assert_eq!(
        consistency_proof(&leaves, 9),
        Err(ProofError::SizeOutOfRange)
    );
    assert_eq!(
        consistency_proof(&leaves, u64::MAX),
        Err(ProofError::SizeOutOfRange)
    );
    assert_eq!(consistency_proof(&[], 0), Ok(vec![]));
    assert_eq!(consistency_proof(&leaves, 0), Ok(vec![]));
    assert_eq!(consistency_proof(&leaves, 8), Ok(vec![]));
}

// ---- testdata/inclusion and testdata/consistency ----

/// One fixture file: `source` says where the cases come from, `cases` lists them.
fn fixture_cases(json: &str) -> Vec<Value> {
    let fixture: Value = serde_json::from_str(json).expect("the fixture is JSON");
    fixture["cases"]
        .as_array()
        .expect("a list of cases")
        .clone()
}

fn field_hash(case: &Value, field: &str) -> Result<Hash, ProofError> {
    let text = case[field].as_str().expect("a base64 hash");
    hash_from_slice(&BASE64.decode(text).expect("base64"))
}

/// A proof as the reference gives it (`null` when empty); elements that are not 32 bytes
/// fail as they would when read from the wire.
fn field_proof(case: &Value) -> Result<Vec<Hash>, ProofError> {
    match &case["proof"] {
        Value::Null => Ok(vec![]),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let text = item.as_str().expect("a base64 hash");
                hash_from_slice(&BASE64.decode(text).expect("base64"))
            })
            .collect(),
        other => panic!("a proof is a list or null, not {other}"),
    }
}

fn field_u64(case: &Value, field: &str) -> u64 {
    case[field].as_u64().expect("an unsigned size or index")
}

/// The error each failing case must fail with: the fixture's `wantError`, this project's
/// own addition to the reference's yes-or-no `wantErr`.
fn expected(case: &Value) -> Result<(), ProofError> {
    let want_err = case["wantErr"].as_bool().expect("wantErr");
    let want_error = case["wantError"].as_str();
    assert_eq!(want_err, want_error.is_some(), "{case}");
    match want_error {
        None => Ok(()),
        Some("IndexOutOfRange") => Err(ProofError::IndexOutOfRange),
        Some("SizeOutOfRange") => Err(ProofError::SizeOutOfRange),
        Some("WrongProofLength") => Err(ProofError::WrongProofLength),
        Some("RootMismatch") => Err(ProofError::RootMismatch),
        // The length is checked on its own below.
        Some("MalformedHash") => Err(ProofError::MalformedHash { len: 0 }),
        Some(other) => panic!("unknown error {other}"),
    }
}

/// Reading a hash of the wrong length fails before any verification; the test checks that
/// it was a hash, not the case, that was refused.
fn malformed_as_zero(result: Result<(), ProofError>) -> Result<(), ProofError> {
    match result {
        Err(ProofError::MalformedHash { len }) => {
            assert_ne!(len, 32);
            Err(ProofError::MalformedHash { len: 0 })
        }
        other => other,
    }
}

fn run_inclusion_case(case: &Value) -> Result<(), ProofError> {
    let leaf = field_hash(case, "leafHash")?;
    let root = field_hash(case, "root")?;
    let proof = field_proof(case)?;
    verify_inclusion(
        &leaf,
        field_u64(case, "leafIdx"),
        field_u64(case, "treeSize"),
        &proof,
        &root,
    )
}

fn run_consistency_case(case: &Value) -> Result<(), ProofError> {
    let old_root = field_hash(case, "root1")?;
    let new_root = field_hash(case, "root2")?;
    let proof = field_proof(case)?;
    verify_consistency(
        field_u64(case, "size1"),
        field_u64(case, "size2"),
        &proof,
        &old_root,
        &new_root,
    )
}

#[test]
fn reference_inclusion_testdata() {
    let cases = fixture_cases(include_str!("../../../tests/data/merkle/inclusion.json"));
    assert_eq!(cases.len(), 82);
    for case in &cases {
        assert_eq!(
            malformed_as_zero(run_inclusion_case(case)),
            expected(case),
            "{case}"
        );
    }
}

#[test]
fn reference_consistency_testdata() {
    let cases = fixture_cases(include_str!("../../../tests/data/merkle/consistency.json"));
    assert_eq!(cases.len(), 84);
    for case in &cases {
        assert_eq!(
            malformed_as_zero(run_consistency_case(case)),
            expected(case),
            "{case}"
        );
    }
}

/// The happy paths of the testdata are also what this module's own proofs produce.
#[test]
fn reference_testdata_happy_paths_are_generated_proofs() {
    let leaves = leaves();
    let inclusion = fixture_cases(include_str!("../../../tests/data/merkle/inclusion.json"));
    for case in inclusion.iter().filter(|case| case["desc"] == "happy path") {
        let size = field_u64(case, "treeSize") as usize;
        let index = field_u64(case, "leafIdx");
        assert_eq!(
            inclusion_proof(&leaves[..size], index),
            field_proof(case),
            "{case}"
        );
        assert_eq!(root(&leaves[..size]), field_hash(case, "root").unwrap());
    }
    let consistency = fixture_cases(include_str!("../../../tests/data/merkle/consistency.json"));
    for case in consistency
        .iter()
        .filter(|case| case["desc"] == "happy path")
    {
        let size = field_u64(case, "size2") as usize;
        let old_size = field_u64(case, "size1");
        assert_eq!(
            consistency_proof(&leaves[..size], old_size),
            field_proof(case),
            "{case}"
        );
    }
}

// ---- generated trees ----

/// Every proof for every leaf and every pair of sizes up to 40 (past 32, so up to six
/// levels) verifies, and no proof with one hash changed, dropped, added or moved does.
#[test]
fn generated_proofs_verify_and_any_change_breaks_them() {
    let (seed, leaves) = random_leaves(40);
    let roots: Vec<Hash> = (0..=leaves.len()).map(|n| root(&leaves[..n])).collect();
    let stranger = leaf_hash(b"not in the tree");
    for n in 1..=leaves.len() {
        let size = n as u64;
        for index in 0..n {
            let i = index as u64;
            let proof = inclusion_proof(&leaves[..n], i).unwrap();
            let verify =
                |proof: &[Hash]| verify_inclusion(&leaves[index], i, size, proof, &roots[n]);
            assert_eq!(verify(&proof), Ok(()), "seed {seed}: leaf {index} of {n}");
            for tampered in tampered(&proof, &stranger) {
                assert!(
                    verify(&tampered).is_err(),
                    "seed {seed}: leaf {index} of {n}"
                );
            }
        }
        for m in 1..n {
            let old_size = m as u64;
            let proof = consistency_proof(&leaves[..n], old_size).unwrap();
            let verify =
                |proof: &[Hash]| verify_consistency(old_size, size, proof, &roots[m], &roots[n]);
            assert_eq!(verify(&proof), Ok(()), "seed {seed}: {m} -> {n}");
            for tampered in tampered(&proof, &stranger) {
                assert!(verify(&tampered).is_err(), "seed {seed}: {m} -> {n}");
            }
            // A leftover element is refused even when the rest of the proof is right.
            let mut longer = proof.clone();
            longer.push(roots[n]);
            assert_eq!(verify(&longer), Err(ProofError::WrongProofLength));
            longer.pop();
            longer.pop();
            assert_eq!(verify(&longer), Err(ProofError::WrongProofLength));
        }
    }
}

/// Copies of `proof` with one element flipped, removed, duplicated, swapped with its
/// neighbour, or a stranger added at either end.
fn tampered(proof: &[Hash], stranger: &Hash) -> Vec<Vec<Hash>> {
    let mut out = Vec::new();
    for i in 0..proof.len() {
        let mut flipped = proof.to_vec();
        flipped[i][31] ^= 1;
        out.push(flipped);
        let mut removed = proof.to_vec();
        removed.remove(i);
        out.push(removed);
        let mut duplicated = proof.to_vec();
        duplicated.insert(i, proof[i]);
        out.push(duplicated);
        if i + 1 < proof.len() && proof[i] != proof[i + 1] {
            let mut swapped = proof.to_vec();
            swapped.swap(i, i + 1);
            out.push(swapped);
        }
    }
    out.push([proof, &[*stranger]].concat());
    out.push([&[*stranger], proof].concat());
    out
}

// ---- compact tree ----

#[test]
fn compact_tree_frontiers_match_the_reference() {
    let leaves = leaves();
    let mut tree = CompactTree::new();
    for size in 0..=8usize {
        if size > 0 {
            tree.push(leaves[size - 1]);
        }
        let expected: Vec<Hash> = FRONTIERS[size]
            .iter()
            .map(|&(level, index)| h(NODE_HASHES[level][index]))
            .collect();
        assert_eq!(tree.size(), size as u64);
        assert_eq!(tree.frontier(), expected.as_slice(), "size {size}");
        assert_eq!(tree.root(), reference_root(size), "size {size}");
    }
}

#[test]
fn compact_tree_root_equals_the_recursive_root_for_sizes_up_to_300() {
    let (seed, leaves) = random_leaves(300);
    let mut tree = CompactTree::new();
    for size in 0..=leaves.len() {
        if size > 0 {
            tree.push(leaves[size - 1]);
        }
        assert_eq!(tree.size(), size as u64);
        assert_eq!(
            tree.root(),
            root(&leaves[..size]),
            "seed {seed}: size {size}"
        );
        assert!(tree.frontier().len() <= (size.max(1).ilog2() + 1) as usize);

        // The stored state restores a tree that goes on growing the same way.
        let mut restored = CompactTree::from_parts(tree.size(), tree.frontier().to_vec()).unwrap();
        assert_eq!(restored, tree);
        if size < leaves.len() {
            let mut next = tree.clone();
            next.push(leaves[size]);
            restored.push(leaves[size]);
            assert_eq!(restored.root(), next.root(), "seed {seed}: size {size}");
        }
    }
}

#[test]
fn compact_tree_refuses_a_frontier_of_the_wrong_length() {
    let leaves = leaves();
    assert_eq!(
        CompactTree::from_parts(0, vec![]).map(|tree| tree.root()),
        Ok(empty_root())
    );
    assert_eq!(
        CompactTree::from_parts(0, vec![leaves[0]]),
        Err(ProofError::MalformedFrontier { size: 0, len: 1 })
    );
    assert_eq!(
        CompactTree::from_parts(7, leaves[..2].to_vec()),
        Err(ProofError::MalformedFrontier { size: 7, len: 2 })
    );
    assert_eq!(
        CompactTree::from_parts(8, leaves[..2].to_vec()),
        Err(ProofError::MalformedFrontier { size: 8, len: 2 })
    );
    let error = CompactTree::from_parts(7, vec![]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "a compact tree of size 7 has one hash per set bit of its size (3), not 0"
    );
    // A frontier of the right length is taken as given.
    let frontier: Vec<Hash> = FRONTIERS[7]
        .iter()
        .map(|&(level, index)| h(NODE_HASHES[level][index]))
        .collect();
    let tree = CompactTree::from_parts(7, frontier).unwrap();
    assert_eq!(tree.root(), reference_root(7));
}
