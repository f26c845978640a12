//! Malformed input: each defect maps to its own error variant.

use alloy_primitives::{B256, Bytes};
use alloy_trie::TrieAccount;

use super::oracle::{Item, Item::*};
use crate::wire::{
    AccountData, AccountRange, ByteCodes, DecodeError, GetAccountRange, Limits, MessageId,
    SnapMessage, SnapVersion,
};

fn enc(item: &Item) -> Vec<u8> {
    alloy_rlp::encode(item)
}

fn h(byte: u8) -> Item {
    Str(vec![byte; 32])
}

fn decode(version: SnapVersion, id: MessageId, bytes: &[u8]) -> Result<SnapMessage, DecodeError> {
    SnapMessage::decode(version, id as u8, bytes, &Limits::default())
}

fn gar(fields: Vec<Item>) -> Result<SnapMessage, DecodeError> {
    decode(SnapVersion::V1, MessageId::GetAccountRange, &enc(&List(fields)))
}

fn valid_gar() -> Vec<u8> {
    SnapMessage::GetAccountRange(GetAccountRange {
        request_id: 9,
        root: B256::repeat_byte(1),
        origin: B256::ZERO,
        limit: B256::repeat_byte(0xff),
        response_bytes: 1 << 19,
    })
    .to_vec()
}

#[test]
fn truncated_input() {
    let bytes = valid_gar();
    assert!(decode(SnapVersion::V1, MessageId::GetAccountRange, &bytes).is_ok());
    for cut in [1, 2, 40, bytes.len() - 1] {
        assert_eq!(
            decode(SnapVersion::V1, MessageId::GetAccountRange, &bytes[..cut]),
            Err(DecodeError::Truncated),
            "cut at {cut}"
        );
    }
    assert_eq!(
        decode(SnapVersion::V1, MessageId::GetAccountRange, &[]),
        Err(DecodeError::MissingField { what: "GetAccountRange" })
    );
}

#[test]
fn trailing_bytes() {
    let mut bytes = valid_gar();
    bytes.extend([0x00, 0x01]);
    assert_eq!(
        decode(SnapVersion::V1, MessageId::GetAccountRange, &bytes),
        Err(DecodeError::TrailingBytes { count: 2 })
    );
}

#[test]
fn wrong_nesting_and_field_count() {
    // Root as a list.
    assert!(matches!(
        gar(vec![Int(1), List(vec![]), h(0), h(0), Int(1)]),
        Err(DecodeError::ExpectedString { .. })
    ));
    // Message as a string.
    assert!(matches!(
        decode(SnapVersion::V1, MessageId::GetAccountRange, &enc(&Str(vec![1, 2, 3]))),
        Err(DecodeError::ExpectedList { .. })
    ));
    // Accounts as a string in an AccountRange.
    let bytes = enc(&List(vec![Int(1), Str(vec![]), List(vec![])]));
    assert!(matches!(
        decode(SnapVersion::V1, MessageId::AccountRange, &bytes),
        Err(DecodeError::ExpectedList { what: "accounts" })
    ));
    // Too few and too many fields.
    assert!(matches!(gar(vec![Int(1), h(0), h(0), h(0)]), Err(DecodeError::MissingField { .. })));
    assert!(matches!(
        gar(vec![Int(1), h(0), h(0), h(0), Int(1), Int(1)]),
        Err(DecodeError::ExtraField { .. })
    ));
    // An account pair with a third element.
    let acc = List(vec![Str(vec![]), Str(vec![]), Str(vec![]), Str(vec![])]);
    let bytes = enc(&List(vec![Int(1), List(vec![List(vec![h(1), acc, Int(0)])]), List(vec![])]));
    assert!(matches!(
        decode(SnapVersion::V1, MessageId::AccountRange, &bytes),
        Err(DecodeError::ExtraField { what: "account" })
    ));
}

#[test]
fn non_canonical_integers_and_headers() {
    // Request id 0 written as the byte 0x00 (a leading zero), not 0x80.
    assert!(matches!(
        gar(vec![Raw(vec![0x00]), h(0), h(0), h(0), Int(1)]),
        Err(DecodeError::NonCanonicalInteger { .. })
    ));
    // Request id with a leading zero byte: 0x82 00 05.
    assert!(matches!(
        gar(vec![Raw(vec![0x82, 0x00, 0x05]), h(0), h(0), h(0), Int(1)]),
        Err(DecodeError::NonCanonicalInteger { .. })
    ));
    // A single byte below 0x80 wrapped in a string header: 0x81 05.
    assert_eq!(
        gar(vec![Raw(vec![0x81, 0x05]), h(0), h(0), h(0), Int(1)]),
        Err(DecodeError::NonCanonicalHeader)
    );
    // Nine-byte integer.
    assert!(matches!(
        gar(vec![Str(vec![1; 9]), h(0), h(0), h(0), Int(1)]),
        Err(DecodeError::IntegerOverflow { .. })
    ));
    // Long-form list header for a 5-byte payload: 0xf8 05 instead of 0xc5.
    let bytes = [0xf8, 0x05, 0x01, 0xc0, 0x80, 0x80, 0x80];
    assert_eq!(
        decode(SnapVersion::V1, MessageId::GetByteCodes, &bytes),
        Err(DecodeError::NonCanonicalHeader)
    );
    // Long-form string header with a leading zero in the length.
    let bytes = [0xc5, 0x01, 0xb9, 0x00, 0x01, 0x00];
    assert_eq!(
        decode(SnapVersion::V1, MessageId::ByteCodes, &bytes),
        Err(DecodeError::NonCanonicalHeader)
    );
}

#[test]
fn bad_hash_lengths() {
    assert!(matches!(
        gar(vec![Int(1), Str(vec![1; 31]), h(0), h(0), Int(1)]),
        Err(DecodeError::BadHashLength { len: 31, what: "root hash" })
    ));
    assert!(matches!(
        gar(vec![Int(1), h(0), Str(vec![1; 33]), h(0), Int(1)]),
        Err(DecodeError::BadHashLength { len: 33, .. })
    ));
    // Storage origin longer than 32 bytes.
    let bytes =
        enc(&List(vec![Int(1), h(0), List(vec![h(1)]), Str(vec![1; 33]), Str(vec![]), Int(1)]));
    assert!(matches!(
        decode(SnapVersion::V1, MessageId::GetStorageRanges, &bytes),
        Err(DecodeError::BadHashLength { len: 33, .. })
    ));
}

#[test]
fn unsorted_and_duplicate_hashes() {
    let acc = || List(vec![Str(vec![]), Str(vec![]), Str(vec![]), Str(vec![])]);
    let range = |hashes: &[u8]| {
        enc(&List(vec![
            Int(1),
            List(hashes.iter().map(|&b| List(vec![h(b), acc()])).collect()),
            List(vec![]),
        ]))
    };
    assert!(decode(SnapVersion::V1, MessageId::AccountRange, &range(&[1, 2, 3])).is_ok());
    assert_eq!(
        decode(SnapVersion::V1, MessageId::AccountRange, &range(&[1, 3, 2])),
        Err(DecodeError::UnsortedAccounts { index: 2 })
    );
    assert_eq!(
        decode(SnapVersion::V1, MessageId::AccountRange, &range(&[1, 1])),
        Err(DecodeError::UnsortedAccounts { index: 1 })
    );
    let slot = |b: u8| List(vec![h(b), Str(vec![1])]);
    let lists = |second: Vec<Item>| {
        enc(&List(vec![Int(1), List(vec![List(vec![slot(9)]), List(second)]), List(vec![])]))
    };
    // Ordering is per list: 9 then 1 across lists is fine.
    assert!(
        decode(SnapVersion::V1, MessageId::StorageRanges, &lists(vec![slot(1), slot(2)])).is_ok()
    );
    assert_eq!(
        decode(SnapVersion::V1, MessageId::StorageRanges, &lists(vec![slot(1), slot(2), slot(2)])),
        Err(DecodeError::UnsortedSlots { list: 1, index: 2 })
    );
}

#[test]
fn size_item_and_proof_limits() {
    let bytes = valid_gar();
    let small = Limits { max_message_bytes: bytes.len() - 1, ..Limits::default() };
    assert_eq!(
        SnapMessage::decode(SnapVersion::V1, 0, &bytes, &small),
        Err(DecodeError::MessageTooLarge { len: bytes.len(), max: bytes.len() - 1 })
    );
    let huge = vec![0u8; Limits::default().max_message_bytes + 1];
    assert!(matches!(
        SnapMessage::decode(SnapVersion::V1, 5, &huge, &Limits::default()),
        Err(DecodeError::MessageTooLarge { .. })
    ));

    let codes =
        SnapMessage::ByteCodes(ByteCodes { request_id: 1, codes: vec![Bytes::new(); 5] }).to_vec();
    let four = Limits { max_list_items: 4, ..Limits::default() };
    assert_eq!(
        SnapMessage::decode(SnapVersion::V1, 5, &codes, &four),
        Err(DecodeError::TooManyItems { what: "codes", max: 4 })
    );
    let five = Limits { max_list_items: 5, ..Limits::default() };
    assert!(SnapMessage::decode(SnapVersion::V1, 5, &codes, &five).is_ok());

    // A list header announcing far more items than the message holds: truncated, not allocated.
    let bytes = [0xc8, 0x01, 0xfb, 0xff, 0xff, 0xff, 0xff, 0x80, 0x80];
    assert_eq!(decode(SnapVersion::V1, MessageId::ByteCodes, &bytes), Err(DecodeError::Truncated));

    let range = |nodes: usize| {
        SnapMessage::AccountRange(AccountRange {
            request_id: 1,
            accounts: vec![AccountData { hash: B256::ZERO, account: TrieAccount::default() }],
            proof: vec![Bytes::from_static(&[0xc0]); nodes],
        })
        .to_vec()
    };
    assert!(decode(SnapVersion::V1, MessageId::AccountRange, &range(128)).is_ok());
    assert_eq!(
        decode(SnapVersion::V1, MessageId::AccountRange, &range(129)),
        Err(DecodeError::TooManyProofNodes { max: 128 })
    );
}

#[test]
fn message_ids_and_versions() {
    let bytes = valid_gar();
    assert_eq!(
        SnapMessage::decode(SnapVersion::V1, 0x0a, &bytes, &Limits::default()),
        Err(DecodeError::UnknownMessageId(0x0a))
    );
    assert_eq!(
        SnapMessage::decode(SnapVersion::V2, 0xff, &bytes, &Limits::default()),
        Err(DecodeError::UnknownMessageId(0xff))
    );
    for (version, id) in [
        (SnapVersion::V2, MessageId::GetTrieNodes),
        (SnapVersion::V2, MessageId::TrieNodes),
        (SnapVersion::V1, MessageId::GetBlockAccessLists),
        (SnapVersion::V1, MessageId::BlockAccessLists),
    ] {
        assert_eq!(decode(version, id, &bytes), Err(DecodeError::NotInVersion { id, version }));
    }
}

#[test]
fn bal_entries_must_be_lists_or_empty() {
    let bytes = enc(&List(vec![Int(1), List(vec![Raw(vec![0xc0]), Str(vec![])])]));
    assert!(decode(SnapVersion::V2, MessageId::BlockAccessLists, &bytes).is_ok());
    let bytes = enc(&List(vec![Int(1), List(vec![Raw(vec![0xc0]), Str(vec![1, 2])])]));
    assert_eq!(
        decode(SnapVersion::V2, MessageId::BlockAccessLists, &bytes),
        Err(DecodeError::BadBlockAccessList { index: 1 })
    );
}

#[test]
fn bad_account_body_inside_range() {
    // Storage root of 5 bytes.
    let acc = List(vec![Str(vec![]), Str(vec![]), Str(vec![1; 5]), Str(vec![])]);
    let bytes = enc(&List(vec![Int(1), List(vec![List(vec![h(1), acc])]), List(vec![])]));
    assert!(matches!(
        decode(SnapVersion::V1, MessageId::AccountRange, &bytes),
        Err(DecodeError::BadAccount(_))
    ));
}

#[test]
fn item_budget_spans_all_lists_of_a_message() {
    use crate::wire::{GetTrieNodes, TrieNodePathSet};
    // Three path sets of four empty paths: 3 sets + 12 paths = 15 items over four lists, none
    // longer than four items.
    let sets = vec![TrieNodePathSet(vec![Bytes::new(); 4]); 3];
    let request = SnapMessage::GetTrieNodes(GetTrieNodes {
        request_id: 1,
        root: B256::ZERO,
        paths: sets,
        response_bytes: 1,
    })
    .to_vec();
    let per_list_only = Limits { max_list_items: 4, ..Limits::default() };
    assert!(SnapMessage::decode(SnapVersion::V1, 6, &request, &per_list_only).is_ok());
    let budget =
        |items| Limits { max_list_items: 4, max_message_items: items, ..Limits::default() };
    assert!(SnapMessage::decode(SnapVersion::V1, 6, &request, &budget(15)).is_ok());
    assert_eq!(
        SnapMessage::decode(SnapVersion::V1, 6, &request, &budget(14)),
        Err(DecodeError::TooManyItems { what: "message", max: 14 })
    );
}

#[test]
fn a_message_of_empty_items_over_the_default_budget_is_rejected() {
    use crate::wire::{GetTrieNodes, MAX_MESSAGE_ITEMS, TrieNodePathSet};
    // Two path sets of empty paths, each list within the per-list limit, together over the
    // message-wide budget: about 512 KiB that would decode to ~16 MiB of handles per 512 Ki
    // items, and up to ~320 MiB for a 10 MiB message without the budget.
    let half = MAX_MESSAGE_ITEMS / 2 + 1;
    let request = SnapMessage::GetTrieNodes(GetTrieNodes {
        request_id: 1,
        root: B256::ZERO,
        paths: vec![TrieNodePathSet(vec![Bytes::new(); half]); 2],
        response_bytes: 1,
    })
    .to_vec();
    let limits = Limits::default();
    assert!(request.len() < limits.max_message_bytes && half <= limits.max_list_items);
    assert_eq!(
        SnapMessage::decode(SnapVersion::V1, 6, &request, &limits),
        Err(DecodeError::TooManyItems { what: "message", max: MAX_MESSAGE_ITEMS })
    );
}
