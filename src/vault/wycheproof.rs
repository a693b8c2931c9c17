//! Project Wycheproof's AES-GCM vectors for the vault's parameters (256-bit keys,
//! 96-bit nonces, 128-bit tags), run through the same `aes_gcm` calls the envelopes
//! use. The vectors are in tests/vectors/wycheproof_aes256gcm.json, with their origin
//! and licence.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use serde::Deserialize;

const VECTORS: &str = include_str!("../../tests/vectors/wycheproof_aes256gcm.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    algorithm: String,
    number_of_tests: usize,
    test_groups: Vec<Group>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    key_size: usize,
    iv_size: usize,
    tag_size: usize,
    tests: Vec<Vector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    tc_id: u32,
    comment: String,
    key: String,
    iv: String,
    aad: String,
    msg: String,
    ct: String,
    tag: String,
    result: Expected,
}

#[derive(Deserialize, PartialEq, Eq, Clone, Copy, Debug)]
#[serde(rename_all = "lowercase")]
enum Expected {
    Valid,
    Invalid,
    /// Legal but discouraged input (upstream uses it for e.g. odd IV sizes). None is
    /// in this selection; should one appear, decrypting may succeed or fail, but what
    /// it yields must be the message.
    Acceptable,
}

fn unhex(tc_id: u32, text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "tcId {tc_id}: odd-length hex");
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&text[i..i + 2], 16)
                .unwrap_or_else(|_| panic!("tcId {tc_id}: bad hex {text}"))
        })
        .collect()
}

/// Runs one vector; `Err` says how the implementation disagreed with it.
fn check(v: &Vector) -> Result<Expected, String> {
    let key: [u8; 32] = unhex(v.tc_id, &v.key)
        .try_into()
        .map_err(|_| "key is not 256 bits".to_owned())?;
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key));
    let iv = unhex(v.tc_id, &v.iv);
    let nonce = Nonce::try_from(iv.as_slice()).map_err(|_| "nonce is not 96 bits".to_owned())?;
    let aad = unhex(v.tc_id, &v.aad);
    let msg = unhex(v.tc_id, &v.msg);
    let mut sealed = unhex(v.tc_id, &v.ct);
    sealed.extend(unhex(v.tc_id, &v.tag));

    let opened = cipher.decrypt(
        &nonce,
        Payload {
            msg: &sealed,
            aad: &aad,
        },
    );
    match (v.result, opened) {
        (Expected::Valid, Ok(plain)) => {
            if plain != msg {
                return Err("decrypts to another message".into());
            }
            let encrypted = cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: &msg,
                        aad: &aad,
                    },
                )
                .map_err(|_| "encryption failed".to_owned())?;
            if encrypted != sealed {
                return Err("encrypts to another ciphertext or tag".into());
            }
        }
        (Expected::Valid, Err(_)) => return Err("a valid ciphertext is refused".into()),
        (Expected::Invalid, Ok(_)) => return Err("a forged ciphertext is accepted".into()),
        (Expected::Invalid, Err(_)) => {}
        (Expected::Acceptable, Ok(plain)) if plain != msg => {
            return Err("decrypts to another message".into());
        }
        (Expected::Acceptable, _) => {}
    }
    Ok(v.result)
}

#[test]
fn every_wycheproof_vector_for_the_vaults_parameters_passes() {
    let file: File = serde_json::from_str(VECTORS).expect("the vector file parses");
    assert_eq!(file.algorithm, "AES-GCM");
    let mut failures = Vec::new();
    let mut counts = [0usize; 3];
    for group in &file.test_groups {
        // Anything else would test parameters the vault never uses.
        assert_eq!(
            (group.key_size, group.iv_size, group.tag_size),
            (256, 96, 128)
        );
        for vector in &group.tests {
            match check(vector) {
                Ok(kind) => counts[kind as usize] += 1,
                Err(why) => {
                    failures.push(format!("tcId {} ({}): {why}", vector.tc_id, vector.comment))
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let [valid, invalid, acceptable] = counts;
    assert_eq!(
        valid + invalid + acceptable,
        file.number_of_tests,
        "every vector ran"
    );
    // A file that lost its valid or its forged vectors would pass the loop above.
    assert!(valid > 0 && invalid > 0, "{valid} valid, {invalid} invalid");
}
