//! Encoding and decoding of every snap message, field for field as the spec lays them out.
//!
//! Integers (request ids, byte limits, nonces) are canonical RLP integers; hashes are 32-byte
//! strings; everything else a byte string or a list. The decoder walks RLP headers over the
//! borrowed input, checks [`Limits`] on lengths and item counts before reserving memory, and
//! accepts only the canonical encoding, with one exception: account bodies may come in full form
//! (see [`decode_account_body`](super::decode_account_body)); the encoder writes them slim.

use alloy_primitives::{B256, Bytes};

use super::{
    account::{decode_account_item, encode_slim_account, slim_account_len},
    error::DecodeError,
    limits::Limits,
    messages::{
        AccountData, AccountRange, BlockAccessLists, ByteCodes, GetAccountRange,
        GetBlockAccessLists, GetByteCodes, GetStorageRanges, GetTrieNodes, MessageId, SnapMessage,
        SnapVersion, StorageRanges, StorageSlot, TrieNodePathSet, TrieNodes,
    },
    rlp::{self, B256_LEN},
};

/// Smallest wire size of an `[accHash, accBody]` pair: list header, 33-byte hash, 5-byte body.
const MIN_ACCOUNT_ITEM: usize = 1 + B256_LEN + 5;
/// Smallest wire size of a `[slotHash, slotData]` pair.
const MIN_SLOT_ITEM: usize = 1 + B256_LEN + 1;

/// One message body: its list payload's length, its encoding and its bounded decoding.
trait Wire: Sized {
    /// Name used in errors.
    const WHAT: &'static str;
    /// Length of the outer list's payload.
    fn payload_len(&self) -> usize;
    /// Writes the outer list's payload.
    fn encode_payload(&self, out: &mut Vec<u8>);
    /// Reads the outer list's payload; the caller checks nothing is left.
    fn decode_fields(payload: &mut &[u8], limits: &Budget<'_>) -> Result<Self, DecodeError>;
}

/// Decodes a whole message body: size check, outer list, fields, no extra fields, no trailing
/// bytes.
fn decode_message<T: Wire>(bytes: &[u8], limits: &Limits) -> Result<T, DecodeError> {
    decode_message_in(bytes, &Budget::new(limits, None))
}

/// [`decode_message`] within `budget`, which says whether byte strings are copied or sliced.
fn decode_message_in<T: Wire>(bytes: &[u8], budget: &Budget<'_>) -> Result<T, DecodeError> {
    let limits = budget.limits;
    if bytes.len() > limits.max_message_bytes {
        return Err(DecodeError::MessageTooLarge {
            len: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    let mut buf = bytes;
    let mut payload = rlp::list(&mut buf, T::WHAT)?;
    if !buf.is_empty() {
        return Err(DecodeError::TrailingBytes { count: buf.len() });
    }
    let message = T::decode_fields(&mut payload, budget)?;
    rlp::finish(payload, T::WHAT)?;
    Ok(message)
}

macro_rules! message_api {
    ($($ty:ident),* $(,)?) => {$(
        impl $ty {
            /// Appends the message's RLP encoding to `out`.
            pub fn encode(&self, out: &mut Vec<u8>) {
                out.reserve(self.encoded_len());
                rlp::put_list_header(self.payload_len(), out);
                self.encode_payload(out);
            }

            /// Exact length of [`Self::encode`]'s output.
            pub fn encoded_len(&self) -> usize {
                rlp::item_len(self.payload_len())
            }

            /// Decodes the message from exactly `bytes`, within `limits`.
            pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
                decode_message(bytes, limits)
            }
        }
    )*};
}

message_api!(
    GetAccountRange,
    AccountRange,
    GetStorageRanges,
    StorageRanges,
    GetByteCodes,
    ByteCodes,
    GetTrieNodes,
    TrieNodes,
    GetBlockAccessLists,
    BlockAccessLists,
);

/// The item budget of one message being decoded: the limits, and how many list items the
/// message may still hold in total ([`Limits::max_message_items`]). Nested lists draw on the
/// same budget, so decoded memory stays bounded however the items are spread over lists.
///
/// It also holds the buffer being decoded when that is shared: the byte strings an answer
/// passes on to a write batch (slot values, codes, proof nodes) are then slices of it rather
/// than copies, one allocation per message instead of one per item.
struct Budget<'a> {
    limits: &'a Limits,
    items_left: core::cell::Cell<usize>,
    shared: Option<&'a Bytes>,
}

impl<'a> Budget<'a> {
    fn new(limits: &'a Limits, shared: Option<&'a Bytes>) -> Self {
        Self { limits, items_left: core::cell::Cell::new(limits.max_message_items), shared }
    }

    /// `part` (a slice of the message being decoded) as `Bytes`: a slice of the shared buffer,
    /// or a copy.
    fn bytes(&self, part: &[u8]) -> Bytes {
        match self.shared {
            Some(whole) => whole.slice_ref(part),
            None => Bytes::copy_from_slice(part),
        }
    }

    /// Takes `count` items from the budget, or fails when the message would exceed it.
    fn charge(&self, count: usize) -> Result<(), DecodeError> {
        let left = self.items_left.get().checked_sub(count).ok_or(DecodeError::TooManyItems {
            what: "message",
            max: self.limits.max_message_items,
        })?;
        self.items_left.set(left);
        Ok(())
    }
}

impl core::ops::Deref for Budget<'_> {
    type Target = Limits;

    fn deref(&self) -> &Limits {
        self.limits
    }
}

/// Decodes a list whose items `item` reads one at a time, bounded by `max` items.
///
/// The items are counted first (header walk only), the count checked against `max`, and the
/// vector reserved for no more items than the payload can hold at `min_item_len` bytes each.
fn decode_list<'a, T>(
    buf: &mut &'a [u8],
    budget: &Budget<'_>,
    what: &'static str,
    max: usize,
    too_many: impl Fn() -> DecodeError,
    min_item_len: usize,
    mut item: impl FnMut(&mut &'a [u8], usize) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut payload = rlp::list(buf, what)?;
    let count = rlp::count_items(payload, max, too_many)?;
    budget.charge(count)?;
    let mut items = Vec::with_capacity(rlp::capacity(count, payload.len(), min_item_len));
    for index in 0..count {
        items.push(item(&mut payload, index)?);
    }
    rlp::finish(payload, what)?;
    Ok(items)
}

fn too_many(what: &'static str, limits: &Limits) -> impl Fn() -> DecodeError {
    let max = limits.max_list_items;
    move || DecodeError::TooManyItems { what, max }
}

fn decode_hashes(
    buf: &mut &[u8],
    what: &'static str,
    limits: &Budget<'_>,
) -> Result<Vec<B256>, DecodeError> {
    decode_list(
        buf,
        limits,
        what,
        limits.max_list_items,
        too_many(what, limits),
        B256_LEN,
        |b, _| rlp::b256(b, what),
    )
}

/// A list of byte strings; `share` lets them be slices of a shared message buffer (for what
/// goes on to a write batch, not for what may be held long, like trie nodes waiting for their
/// children: a slice keeps the whole message alive).
fn decode_blobs(
    buf: &mut &[u8],
    what: &'static str,
    limits: &Budget<'_>,
    share: bool,
) -> Result<Vec<Bytes>, DecodeError> {
    decode_list(buf, limits, what, limits.max_list_items, too_many(what, limits), 1, |b, _| {
        let blob = rlp::string(b, what)?;
        Ok(if share { limits.bytes(blob) } else { Bytes::copy_from_slice(blob) })
    })
}

fn decode_proof(buf: &mut &[u8], limits: &Budget<'_>) -> Result<Vec<Bytes>, DecodeError> {
    let max = limits.max_proof_nodes.min(limits.max_list_items);
    let err = DecodeError::TooManyProofNodes { max };
    decode_list(
        buf,
        limits,
        "proof",
        max,
        || err.clone(),
        1,
        |b, _| rlp::string(b, "proof node").map(|node| limits.bytes(node)),
    )
}

fn hashes_len(hashes: &[B256]) -> usize {
    rlp::item_len(hashes.len() * B256_LEN)
}

fn put_hashes(hashes: &[B256], out: &mut Vec<u8>) {
    rlp::put_list_header(hashes.len() * B256_LEN, out);
    for hash in hashes {
        rlp::put_b256(hash, out);
    }
}

fn blobs_payload_len(blobs: &[Bytes]) -> usize {
    blobs.iter().map(|b| rlp::bytes_len(b)).sum()
}

fn put_blobs(blobs: &[Bytes], out: &mut Vec<u8>) {
    rlp::put_list_header(blobs_payload_len(blobs), out);
    for blob in blobs {
        rlp::put_bytes(blob, out);
    }
}

/// Reads a storage origin or limit: a byte string of at most 32 bytes, empty meaning absent.
fn decode_slot_bound(buf: &mut &[u8], what: &'static str) -> Result<Bytes, DecodeError> {
    let bytes = rlp::string(buf, what)?;
    if bytes.len() > 32 {
        return Err(DecodeError::BadHashLength { what, len: bytes.len() });
    }
    Ok(Bytes::copy_from_slice(bytes))
}

impl Wire for GetAccountRange {
    const WHAT: &'static str = "GetAccountRange";
    fn payload_len(&self) -> usize {
        rlp::u64_len(self.request_id) + 3 * B256_LEN + rlp::u64_len(self.response_bytes)
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        rlp::put_u64(self.request_id, out);
        rlp::put_b256(&self.root, out);
        rlp::put_b256(&self.origin, out);
        rlp::put_b256(&self.limit, out);
        rlp::put_u64(self.response_bytes, out);
    }
    fn decode_fields(p: &mut &[u8], _: &Budget<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            request_id: rlp::u64(p, "request id")?,
            root: rlp::b256(p, "root hash")?,
            origin: rlp::b256(p, "starting hash")?,
            limit: rlp::b256(p, "limit hash")?,
            response_bytes: rlp::u64(p, "response bytes")?,
        })
    }
}

fn account_item_payload_len(account: &AccountData) -> usize {
    B256_LEN + slim_account_len(&account.account)
}

fn accounts_payload_len(accounts: &[AccountData]) -> usize {
    accounts.iter().map(|a| rlp::item_len(account_item_payload_len(a))).sum()
}

impl Wire for AccountRange {
    const WHAT: &'static str = "AccountRange";
    fn payload_len(&self) -> usize {
        rlp::u64_len(self.request_id)
            + rlp::item_len(accounts_payload_len(&self.accounts))
            + rlp::item_len(blobs_payload_len(&self.proof))
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        rlp::put_u64(self.request_id, out);
        rlp::put_list_header(accounts_payload_len(&self.accounts), out);
        for account in &self.accounts {
            rlp::put_list_header(account_item_payload_len(account), out);
            rlp::put_b256(&account.hash, out);
            encode_slim_account(&account.account, out);
        }
        put_blobs(&self.proof, out);
    }
    fn decode_fields(p: &mut &[u8], limits: &Budget<'_>) -> Result<Self, DecodeError> {
        let request_id = rlp::u64(p, "request id")?;
        let mut previous: Option<B256> = None;
        let what = "accounts";
        let accounts = decode_list(
            p,
            limits,
            what,
            limits.max_list_items,
            too_many(what, limits),
            MIN_ACCOUNT_ITEM,
            |b, index| {
                let mut item = rlp::list(b, "account")?;
                let hash = rlp::b256(&mut item, "account hash")?;
                if previous.is_some_and(|prev| hash <= prev) {
                    return Err(DecodeError::UnsortedAccounts { index });
                }
                previous = Some(hash);
                let account = decode_account_item(&mut item)?;
                rlp::finish(item, "account")?;
                Ok(AccountData { hash, account })
            },
        )?;
        let proof = decode_proof(p, limits)?;
        Ok(Self { request_id, accounts, proof })
    }
}

impl Wire for GetStorageRanges {
    const WHAT: &'static str = "GetStorageRanges";
    fn payload_len(&self) -> usize {
        rlp::u64_len(self.request_id)
            + B256_LEN
            + hashes_len(&self.account_hashes)
            + rlp::bytes_len(&self.origin)
            + rlp::bytes_len(&self.limit)
            + rlp::u64_len(self.response_bytes)
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        rlp::put_u64(self.request_id, out);
        rlp::put_b256(&self.root, out);
        put_hashes(&self.account_hashes, out);
        rlp::put_bytes(&self.origin, out);
        rlp::put_bytes(&self.limit, out);
        rlp::put_u64(self.response_bytes, out);
    }
    fn decode_fields(p: &mut &[u8], limits: &Budget<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            request_id: rlp::u64(p, "request id")?,
            root: rlp::b256(p, "root hash")?,
            account_hashes: decode_hashes(p, "account hashes", limits)?,
            origin: decode_slot_bound(p, "starting hash")?,
            limit: decode_slot_bound(p, "limit hash")?,
            response_bytes: rlp::u64(p, "response bytes")?,
        })
    }
}

fn slot_item_payload_len(slot: &StorageSlot) -> usize {
    B256_LEN + rlp::bytes_len(&slot.value)
}

fn slot_list_payload_len(slots: &[StorageSlot]) -> usize {
    slots.iter().map(|s| rlp::item_len(slot_item_payload_len(s))).sum()
}

fn slot_lists_payload_len(lists: &[Vec<StorageSlot>]) -> usize {
    lists.iter().map(|l| rlp::item_len(slot_list_payload_len(l))).sum()
}

fn decode_slot_list(
    buf: &mut &[u8],
    list: usize,
    limits: &Budget<'_>,
) -> Result<Vec<StorageSlot>, DecodeError> {
    let what = "slot list";
    let mut previous: Option<B256> = None;
    decode_list(
        buf,
        limits,
        what,
        limits.max_list_items,
        too_many(what, limits),
        MIN_SLOT_ITEM,
        |b, index| {
            let mut item = rlp::list(b, "slot")?;
            let hash = rlp::b256(&mut item, "slot hash")?;
            if previous.is_some_and(|prev| hash <= prev) {
                return Err(DecodeError::UnsortedSlots { list, index });
            }
            previous = Some(hash);
            let value = limits.bytes(rlp::string(&mut item, "slot data")?);
            rlp::finish(item, "slot")?;
            Ok(StorageSlot { hash, value })
        },
    )
}

impl Wire for StorageRanges {
    const WHAT: &'static str = "StorageRanges";
    fn payload_len(&self) -> usize {
        rlp::u64_len(self.request_id)
            + rlp::item_len(slot_lists_payload_len(&self.slots))
            + rlp::item_len(blobs_payload_len(&self.proof))
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        rlp::put_u64(self.request_id, out);
        rlp::put_list_header(slot_lists_payload_len(&self.slots), out);
        for list in &self.slots {
            rlp::put_list_header(slot_list_payload_len(list), out);
            for slot in list {
                rlp::put_list_header(slot_item_payload_len(slot), out);
                rlp::put_b256(&slot.hash, out);
                rlp::put_bytes(&slot.value, out);
            }
        }
        put_blobs(&self.proof, out);
    }
    fn decode_fields(p: &mut &[u8], limits: &Budget<'_>) -> Result<Self, DecodeError> {
        let request_id = rlp::u64(p, "request id")?;
        let what = "slot lists";
        let slots = decode_list(
            p,
            limits,
            what,
            limits.max_list_items,
            too_many(what, limits),
            1,
            |b, list| decode_slot_list(b, list, limits),
        )?;
        let proof = decode_proof(p, limits)?;
        Ok(Self { request_id, slots, proof })
    }
}

impl Wire for GetByteCodes {
    const WHAT: &'static str = "GetByteCodes";
    fn payload_len(&self) -> usize {
        rlp::u64_len(self.request_id) + hashes_len(&self.hashes) + rlp::u64_len(self.response_bytes)
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        rlp::put_u64(self.request_id, out);
        put_hashes(&self.hashes, out);
        rlp::put_u64(self.response_bytes, out);
    }
    fn decode_fields(p: &mut &[u8], limits: &Budget<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            request_id: rlp::u64(p, "request id")?,
            hashes: decode_hashes(p, "code hashes", limits)?,
            response_bytes: rlp::u64(p, "response bytes")?,
        })
    }
}

impl Wire for ByteCodes {
    const WHAT: &'static str = "ByteCodes";
    fn payload_len(&self) -> usize {
        rlp::u64_len(self.request_id) + rlp::item_len(blobs_payload_len(&self.codes))
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        rlp::put_u64(self.request_id, out);
        put_blobs(&self.codes, out);
    }
    fn decode_fields(p: &mut &[u8], limits: &Budget<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            request_id: rlp::u64(p, "request id")?,
            codes: decode_blobs(p, "codes", limits, true)?,
        })
    }
}

fn path_sets_payload_len(sets: &[TrieNodePathSet]) -> usize {
    sets.iter().map(|s| rlp::item_len(blobs_payload_len(&s.0))).sum()
}

impl Wire for GetTrieNodes {
    const WHAT: &'static str = "GetTrieNodes";
    fn payload_len(&self) -> usize {
        rlp::u64_len(self.request_id)
            + B256_LEN
            + rlp::item_len(path_sets_payload_len(&self.paths))
            + rlp::u64_len(self.response_bytes)
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        rlp::put_u64(self.request_id, out);
        rlp::put_b256(&self.root, out);
        rlp::put_list_header(path_sets_payload_len(&self.paths), out);
        for set in &self.paths {
            put_blobs(&set.0, out);
        }
        rlp::put_u64(self.response_bytes, out);
    }
    fn decode_fields(p: &mut &[u8], limits: &Budget<'_>) -> Result<Self, DecodeError> {
        let request_id = rlp::u64(p, "request id")?;
        let root = rlp::b256(p, "root hash")?;
        let what = "path sets";
        let paths = decode_list(
            p,
            limits,
            what,
            limits.max_list_items,
            too_many(what, limits),
            1,
            |b, _| decode_blobs(b, "path set", limits, false).map(TrieNodePathSet),
        )?;
        let response_bytes = rlp::u64(p, "response bytes")?;
        Ok(Self { request_id, root, paths, response_bytes })
    }
}

impl Wire for TrieNodes {
    const WHAT: &'static str = "TrieNodes";
    fn payload_len(&self) -> usize {
        rlp::u64_len(self.request_id) + rlp::item_len(blobs_payload_len(&self.nodes))
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        rlp::put_u64(self.request_id, out);
        put_blobs(&self.nodes, out);
    }
    fn decode_fields(p: &mut &[u8], limits: &Budget<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            request_id: rlp::u64(p, "request id")?,
            nodes: decode_blobs(p, "nodes", limits, false)?,
        })
    }
}

impl Wire for GetBlockAccessLists {
    const WHAT: &'static str = "GetBlockAccessLists";
    fn payload_len(&self) -> usize {
        rlp::u64_len(self.request_id)
            + hashes_len(&self.block_hashes)
            + rlp::u64_len(self.response_bytes)
    }
    fn encode_payload(&self, out: &mut Vec<u8>) {
        rlp::put_u64(self.request_id, out);
        put_hashes(&self.block_hashes, out);
        rlp::put_u64(self.response_bytes, out);
    }
    fn decode_fields(p: &mut &[u8], limits: &Budget<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            request_id: rlp::u64(p, "request id")?,
            block_hashes: decode_hashes(p, "block hashes", limits)?,
            response_bytes: rlp::u64(p, "response bytes")?,
        })
    }
}

/// Wire length of one BAL entry: the raw list item as is, or `0x80` when unavailable.
fn bal_entry_len(bal: &Bytes) -> usize {
    if bal.is_empty() { 1 } else { bal.len() }
}

fn bals_payload_len(bals: &[Bytes]) -> usize {
    bals.iter().map(bal_entry_len).sum()
}

impl Wire for BlockAccessLists {
    const WHAT: &'static str = "BlockAccessLists";
    fn payload_len(&self) -> usize {
        rlp::u64_len(self.request_id) + rlp::item_len(bals_payload_len(&self.access_lists))
    }
    /// Entries are written verbatim: each non-empty entry must be one RLP list item.
    fn encode_payload(&self, out: &mut Vec<u8>) {
        rlp::put_u64(self.request_id, out);
        rlp::put_list_header(bals_payload_len(&self.access_lists), out);
        for bal in &self.access_lists {
            if bal.is_empty() {
                out.push(alloy_rlp::EMPTY_STRING_CODE);
            } else {
                out.extend_from_slice(bal);
            }
        }
    }
    fn decode_fields(p: &mut &[u8], limits: &Budget<'_>) -> Result<Self, DecodeError> {
        let request_id = rlp::u64(p, "request id")?;
        let what = "block access lists";
        let access_lists = decode_list(
            p,
            limits,
            what,
            limits.max_list_items,
            too_many(what, limits),
            1,
            |b, index| match rlp::raw_item(b, "block access list")? {
                (raw, true) => Ok(Bytes::copy_from_slice(raw)),
                ([alloy_rlp::EMPTY_STRING_CODE], false) => Ok(Bytes::new()),
                (_, false) => Err(DecodeError::BadBlockAccessList { index }),
            },
        )?;
        Ok(Self { request_id, access_lists })
    }
}

impl SnapMessage {
    /// Appends the message's RLP encoding (without the message id) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::GetAccountRange(m) => m.encode(out),
            Self::AccountRange(m) => m.encode(out),
            Self::GetStorageRanges(m) => m.encode(out),
            Self::StorageRanges(m) => m.encode(out),
            Self::GetByteCodes(m) => m.encode(out),
            Self::ByteCodes(m) => m.encode(out),
            Self::GetTrieNodes(m) => m.encode(out),
            Self::TrieNodes(m) => m.encode(out),
            Self::GetBlockAccessLists(m) => m.encode(out),
            Self::BlockAccessLists(m) => m.encode(out),
        }
    }

    /// Exact length of [`Self::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::GetAccountRange(m) => m.encoded_len(),
            Self::AccountRange(m) => m.encoded_len(),
            Self::GetStorageRanges(m) => m.encoded_len(),
            Self::StorageRanges(m) => m.encoded_len(),
            Self::GetByteCodes(m) => m.encoded_len(),
            Self::ByteCodes(m) => m.encoded_len(),
            Self::GetTrieNodes(m) => m.encoded_len(),
            Self::TrieNodes(m) => m.encoded_len(),
            Self::GetBlockAccessLists(m) => m.encoded_len(),
            Self::BlockAccessLists(m) => m.encoded_len(),
        }
    }

    /// The message's encoding as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Decodes message `message_id` (relative to the snap capability offset) of the negotiated
    /// `version` from exactly `bytes`, within `limits`.
    ///
    /// Fails with [`DecodeError::MessageTooLarge`] before looking at the bytes if they exceed
    /// the size limit, [`DecodeError::UnknownMessageId`] for an id of no snap version and
    /// [`DecodeError::NotInVersion`] for one of the other version (0x06/0x07 on snap/2,
    /// 0x08/0x09 on snap/1).
    pub fn decode(
        version: SnapVersion,
        message_id: u8,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Self, DecodeError> {
        Self::decode_in(version, message_id, bytes, &Budget::new(limits, None))
    }

    /// Like [`decode`](Self::decode), taking the message's own buffer: the slot values, codes
    /// and proof nodes of an answer are then slices of `bytes` instead of copies (one
    /// allocation per message rather than one per item). They keep `bytes` alive until the
    /// write batch holding them is dropped; trie nodes, which healing may hold for long, are
    /// still copied.
    pub fn decode_shared(
        version: SnapVersion,
        message_id: u8,
        bytes: &Bytes,
        limits: &Limits,
    ) -> Result<Self, DecodeError> {
        Self::decode_in(version, message_id, bytes, &Budget::new(limits, Some(bytes)))
    }

    fn decode_in(
        version: SnapVersion,
        message_id: u8,
        bytes: &[u8],
        budget: &Budget<'_>,
    ) -> Result<Self, DecodeError> {
        let limits = budget.limits;
        if bytes.len() > limits.max_message_bytes {
            return Err(DecodeError::MessageTooLarge {
                len: bytes.len(),
                max: limits.max_message_bytes,
            });
        }
        let id = MessageId::from_u8(message_id).ok_or(DecodeError::UnknownMessageId(message_id))?;
        if !version.supports(id) {
            return Err(DecodeError::NotInVersion { id, version });
        }
        Ok(match id {
            MessageId::GetAccountRange => Self::GetAccountRange(decode_message_in(bytes, budget)?),
            MessageId::AccountRange => Self::AccountRange(decode_message_in(bytes, budget)?),
            MessageId::GetStorageRanges => {
                Self::GetStorageRanges(decode_message_in(bytes, budget)?)
            }
            MessageId::StorageRanges => Self::StorageRanges(decode_message_in(bytes, budget)?),
            MessageId::GetByteCodes => Self::GetByteCodes(decode_message_in(bytes, budget)?),
            MessageId::ByteCodes => Self::ByteCodes(decode_message_in(bytes, budget)?),
            MessageId::GetTrieNodes => Self::GetTrieNodes(decode_message_in(bytes, budget)?),
            MessageId::TrieNodes => Self::TrieNodes(decode_message_in(bytes, budget)?),
            MessageId::GetBlockAccessLists => {
                Self::GetBlockAccessLists(decode_message_in(bytes, budget)?)
            }
            MessageId::BlockAccessLists => {
                Self::BlockAccessLists(decode_message_in(bytes, budget)?)
            }
        })
    }
}
