//! The Merkle tree over the audit records, hashed as RFC 6962 (and RFC 9162) hash a log.
//!
//! A leaf is SHA-256(0x00 ‖ a record's exact line bytes without the line end), an interior node
//! SHA-256(0x01 ‖ left ‖ right), and leaf `i` is the record of `seq` `i + 1`. A tree head
//! commits to every record up to its size, so a signed one ([`super::checkpoint`]) shows later
//! whether records were cut off the end or the file replaced.
//!
//! [`Frontier`] is the tree as the writer grows it: one hash per perfect subtree on its right
//! edge, O(log n) memory. [`Leaves`] is the tree as a verifier holds it, every leaf hash, from
//! which it gives inclusion and consistency proofs; [`verify_inclusion`] and
//! [`verify_consistency`] check proofs as RFC 9162 §2.1.3.2 and §2.1.4.2 say. This module
//! neither reads files nor signs anything.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf, a node or a root.
pub type Hash = [u8; 32];

/// The root of the tree of no records: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The leaf hash of one record's line (without its line end).
pub fn leaf_hash(line: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(line);
    hasher.finalize().into()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The right edge of a growing tree: enough to add a leaf and compute the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// The roots of the perfect subtrees the leaves so far make, largest (leftmost) first: one
    /// per bit set in `size`.
    peaks: Vec<Hash>,
}

impl Frontier {
    /// Adds the next leaf.
    pub fn push(&mut self, leaf: Hash) {
        self.peaks.push(leaf);
        // Two peaks of one height merge, as many times as adding one carries in binary.
        let mut carries = self.size;
        while carries & 1 == 1 {
            let right = self.peaks.pop().expect("a carry has two peaks");
            let left = self.peaks.pop().expect("a carry has two peaks");
            self.peaks.push(node_hash(&left, &right));
            carries >>= 1;
        }
        self.size += 1;
    }

    /// The tree of `size` leaves whose peaks are `peaks` (largest first), as [`Self::peaks`]
    /// gave them; `None` unless there is one peak per bit set in `size`.
    pub fn resume(size: u64, peaks: Vec<Hash>) -> Option<Self> {
        (peaks.len() == size.count_ones() as usize).then_some(Self { size, peaks })
    }

    /// The roots of the perfect subtrees the leaves make, largest first: all a restart needs.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree head: the peaks folded from the right, as RFC 6962 splits an uneven tree.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(smallest) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*smallest, |right, left| node_hash(left, &right))
    }
}

/// Every leaf hash of a log, as a verifier reads it; proofs are computed from them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leaves(pub Vec<Hash>);

impl Leaves {
    /// The root of the tree of the first `size` leaves (RFC 6962 `MTH`).
    pub fn root(&self, size: u64) -> Option<Hash> {
        let leaves = self.0.get(..usize::try_from(size).ok()?)?;
        Some(subtree_root(leaves))
    }

    /// The roots of the trees of each of `sizes` leaves the log reaches, in one pass over the
    /// leaves: what checking many checkpoints against one log costs.
    pub fn roots_at(&self, sizes: impl IntoIterator<Item = u64>) -> BTreeMap<u64, Hash> {
        let mut wanted: Vec<u64> = sizes.into_iter().collect();
        wanted.sort_unstable();
        let mut roots = BTreeMap::new();
        let mut tree = Frontier::default();
        for size in wanted {
            let Some(more) = usize::try_from(size)
                .ok()
                .and_then(|end| self.0.get(usize::try_from(tree.size()).ok()?..end))
            else {
                break; // beyond the log, as every larger size is
            };
            for leaf in more {
                tree.push(*leaf);
            }
            roots.insert(size, tree.root());
        }
        roots
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 `PATH`),
    /// from the leaf's sibling up.
    pub fn inclusion_path(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        let leaves = self.0.get(..usize::try_from(size).ok()?)?;
        let index = usize::try_from(index).ok().filter(|&i| i < leaves.len())?;
        let mut path = Vec::new();
        inclusion(leaves, index, &mut path);
        Some(path)
    }

    /// The consistency proof from the tree of `old` leaves to the tree of `new` (RFC 6962
    /// `PROOF`): what shows the first a prefix of the second.
    pub fn consistency_path(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        let leaves = self.0.get(..usize::try_from(new).ok()?)?;
        let old = usize::try_from(old).ok().filter(|&m| m <= leaves.len())?;
        let mut path = Vec::new();
        if old > 0 && old < leaves.len() {
            consistency(old, leaves, true, &mut path);
        }
        Some(path)
    }
}

/// The largest power of two below `n` (n > 1): where RFC 6962 splits a tree.
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

fn subtree_root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len()));
            node_hash(&subtree_root(left), &subtree_root(right))
        }
    }
}

fn inclusion(leaves: &[Hash], index: usize, path: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    if index < k {
        inclusion(left, index, path);
        path.push(subtree_root(right));
    } else {
        inclusion(right, index - k, path);
        path.push(subtree_root(left));
    }
}

/// RFC 6962 `SUBPROOF(m, D[n], b)`.
fn consistency(m: usize, leaves: &[Hash], whole: bool, path: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            path.push(subtree_root(leaves));
        }
        return;
    }
    let k = split(n);
    let (left, right) = leaves.split_at(k);
    if m <= k {
        consistency(m, left, whole, path);
        path.push(subtree_root(right));
    } else {
        consistency(m - k, right, false, path);
        path.push(subtree_root(left));
    }
}

/// Whether `path` proves leaf `leaf` at `index` in the tree of `size` leaves with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// Whether `path` proves the tree of `old_size` leaves with `old_root` a prefix of the tree of
/// `new_size` leaves with `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    path: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return path.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return path.is_empty();
    }
    let mut proof: Vec<Hash> = path.to_vec();
    if old_size.is_power_of_two() {
        proof.insert(0, *old_root);
    }
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    f_r == *old_root && s_r == *new_root && s_n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inputs of the Certificate Transparency reference tests, and the roots of their
    /// trees of sizes 1 to 8, as every RFC 6962 implementation publishes them.
    const INPUTS: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn reference() -> Leaves {
        Leaves(
            INPUTS
                .iter()
                .map(|input| leaf_hash(&hex::decode(input).unwrap()))
                .collect(),
        )
    }

    fn hexed(hash: &Hash) -> String {
        hex::encode(hash)
    }

    /// A tree of `n` distinct leaves, for shapes the reference trees do not reach.
    fn many(n: u8) -> Leaves {
        Leaves((0..n).map(|i| leaf_hash(&[i, i.wrapping_mul(7)])).collect())
    }

    #[test]
    fn roots_are_the_reference_roots_of_rfc_6962() {
        let leaves = reference();
        assert_eq!(
            hexed(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), empty_root());
        for (size, root) in (1..).zip(ROOTS) {
            frontier.push(leaves.0[size as usize - 1]);
            assert_eq!(hexed(&leaves.root(size).unwrap()), root, "size {size}");
            assert_eq!(hexed(&frontier.root()), root, "frontier of size {size}");
        }
    }

    #[test]
    fn inclusion_paths_are_the_reference_paths() {
        // Certificate Transparency's published proofs for leaves 0 and 5 of the tree of 8.
        let leaves = reference();
        let path = |index| -> Vec<String> {
            (leaves.inclusion_path(index, 8).unwrap().iter())
                .map(hexed)
                .collect()
        };
        assert_eq!(
            path(0),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            path(5),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
    }

    #[test]
    fn every_inclusion_proof_verifies_and_no_other_leaf_or_root_does() {
        let leaves = many(37);
        for size in 1..=37u64 {
            let root = leaves.root(size).unwrap();
            for index in 0..size {
                let path = leaves.inclusion_path(index, size).unwrap();
                let leaf = &leaves.0[index as usize];
                assert!(verify_inclusion(leaf, index, size, &path, &root));
                let other = leaves.0[(index as usize + 1) % 37];
                assert!(!verify_inclusion(&other, index, size, &path, &root));
                assert!(!verify_inclusion(leaf, index, size, &path, &empty_root()));
            }
        }
        assert_eq!(
            leaves.inclusion_path(5, 5),
            None,
            "no leaf 5 in a tree of 5"
        );
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_forked_tree_does_not() {
        let leaves = many(20);
        let mut forked = leaves.clone();
        forked.0[3] = leaf_hash(b"replaced");
        for new in 1..=20u64 {
            let new_root = leaves.root(new).unwrap();
            for old in 1..=new {
                let path = leaves.consistency_path(old, new).unwrap();
                let old_root = leaves.root(old).unwrap();
                assert!(
                    verify_consistency(old, new, &old_root, &new_root, &path),
                    "{old} → {new}"
                );
                let forked_path = forked.consistency_path(old, new).unwrap();
                let forked_root = forked.root(new).unwrap();
                if old > 3 {
                    assert!(
                        !verify_consistency(old, new, &old_root, &forked_root, &forked_path),
                        "a fork at leaf 3 passed {old} → {new}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_frontier_keeps_one_hash_per_bit_of_its_size() {
        let leaves = many(100);
        let mut frontier = Frontier::default();
        for (size, leaf) in (1u64..).zip(&leaves.0) {
            frontier.push(*leaf);
            assert_eq!(frontier.peaks.len(), size.count_ones() as usize);
            assert_eq!(Some(frontier.root()), leaves.root(size));
        }
        assert_eq!(frontier.size(), 100);
        let roots = leaves.roots_at([7, 100, 3, 101]);
        assert_eq!(roots.keys().copied().collect::<Vec<_>>(), [3, 7, 100]);
        assert!(
            roots
                .iter()
                .all(|(&size, root)| leaves.root(size) == Some(*root))
        );
        let mut resumed = Frontier::resume(100, frontier.peaks().to_vec()).unwrap();
        resumed.push(leaves.0[0]);
        frontier.push(leaves.0[0]);
        assert_eq!(
            resumed, frontier,
            "a resumed tree grows as the original does"
        );
        assert_eq!(
            Frontier::resume(100, frontier.peaks().to_vec()),
            None,
            "101 leaves make four peaks, 100 three"
        );
    }
}
