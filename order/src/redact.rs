//! Personal data in free text. Text that came from outside (a plugin's log
//! line or error, a request path) may carry an e-mail address, a phone
//! number or a card number; before it reaches a log or a report, those are
//! blanked. Over-blanking a long number that was not personal costs a
//! little readability; letting a card number through cannot be undone.

/// What a blanked span becomes.
pub const REDACTED: &str = "[redacted]";

/// Digits in one run, with no separator, from which it is blanked: long
/// enough for a national phone number or a card number, short enough to
/// keep an amount in minor units up to 99,999,999 readable.
const PLAIN_RUN_DIGITS: usize = 10;
/// Digits from which a formatted run (`+49 151 1234567`, `030-1234567`,
/// `4111 1111 1111 1111`) is blanked: a short local phone number.
const FORMATTED_RUN_DIGITS: usize = 7;

/// `text` with every word holding an `@` (an e-mail address, `<a@b.io>`)
/// and every phone- or card-like digit run replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let words: String = text
        .split_inclusive(char::is_whitespace)
        .map(|word| {
            let bare = word.trim_end_matches(char::is_whitespace);
            if bare.contains('@') {
                format!("{REDACTED}{}", &word[bare.len()..])
            } else {
                word.to_string()
            }
        })
        .collect();
    redact_digit_runs(&words)
}

/// Whether `name` (a field or attribute key from the wire) may be repeated
/// in an error or log: a plain identifier that cannot hold an address or a
/// number worth hiding.
pub fn is_plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.chars().filter(char::is_ascii_digit).count() < FORMATTED_RUN_DIGITS
}

/// serde's message without the value: `invalid type: string "ana@…",
/// expected u32` becomes `invalid type: string, expected u32`; an unknown
/// field is named only when its name is plain. serde_json's trailing "at
/// line 1 column 42" is dropped: for a field error the path is the better
/// locator.
pub fn serde_message(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    for prefix in ["invalid type: ", "invalid value: ", "unknown variant "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (got, expected) = match rest.rfind(", expected ") {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            if prefix == "unknown variant " {
                return format!("unknown variant{expected}");
            }
            // `string "…"`, `integer `-2``, `floating point `1.5``: the kind only.
            let kind = [" \"", " `"]
                .iter()
                .filter_map(|q| got.find(q))
                .min()
                .map_or(got, |i| &got[..i]);
            return format!("{prefix}{kind}{expected}");
        }
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
    {
        let (name, expected) = (&rest[..end], &rest[end + 1..]);
        return if is_plain_name(name) {
            message.to_string()
        } else {
            format!("unknown field (its name is not shown: not a plain name){expected}")
        };
    }
    message.to_string()
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')' | '/')
}

fn redact_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let digit_at = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = digit_at(i) || (matches!(chars[i], '+' | '(') && digit_at(i + 1));
        if !starts {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // Extend over digits and the separators between them (one, or two
        // for "(030) 123"); the run ends on its last digit, so a separator
        // after it stays with the text around it.
        let (mut j, mut end) = (i, i);
        let (mut digits, mut groups) = (0usize, 1usize);
        let mut group_lengths = vec![0usize];
        let plus = chars[i] == '+';
        if !digit_at(j) {
            j += 1;
        }
        loop {
            if digit_at(j) {
                digits += 1;
                *group_lengths.last_mut().expect("one group") += 1;
                j += 1;
                end = j;
            } else if (1..=2).any(|n| {
                (j..j + n).all(|k| chars.get(k).is_some_and(|c| is_separator(*c)))
                    && digit_at(j + n)
            }) {
                let n = if digit_at(j + 1) { 1 } else { 2 };
                groups += 1;
                group_lengths.push(0);
                j += n;
            } else {
                break;
            }
        }
        let date = groups == 3
            && group_lengths == [4, 2, 2]
            && chars[i..end]
                .iter()
                .filter(|c| !c.is_ascii_digit())
                .all(|c| *c == '-');
        let formatted = plus || groups > 1;
        let blank = if formatted {
            digits >= FORMATTED_RUN_DIGITS && !date
        } else {
            digits >= PLAIN_RUN_DIGITS
        };
        if blank {
            out.push_str(REDACTED);
        } else {
            out.extend(&chars[i..end]);
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mail_addresses_are_blanked_word_by_word() {
        assert_eq!(
            redact("customer ana@example.com is blocked"),
            "customer [redacted] is blocked"
        );
        assert_eq!(redact("bad <bo@b.io>\tnext"), "bad [redacted]\tnext");
    }

    #[test]
    fn phone_and_card_numbers_are_blanked() {
        for (text, want) in [
            ("call +49 151 1234567 now", "call [redacted] now"),
            ("call +4915112345678.", "call [redacted]."),
            ("tel (030) 1234567", "tel [redacted]"),
            ("tel 030-1234567", "tel [redacted]"),
            ("tel 555.123.4567", "tel [redacted]"),
            (
                "card 4111 1111 1111 1111 declined",
                "card [redacted] declined",
            ),
            ("card 4111-1111-1111-1111", "card [redacted]"),
            ("card=4111111111111111", "card=[redacted]"),
            ("x5551234567", "x[redacted]"),
        ] {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    #[test]
    fn short_numbers_amounts_and_dates_stay() {
        for text in [
            "order ord-1001 total 12500000 over 10000000",
            "created 2026-11-24T10:15:00Z",
            "3 lines, 125000 minor units",
        ] {
            assert_eq!(redact(text), text);
        }
        assert_eq!(redact(""), "");
        assert_eq!(redact("é 123-4567 ü"), "é [redacted] ü");
    }

    #[test]
    fn plain_names_are_identifiers_without_long_numbers() {
        for name in ["channel", "country_code", "x-id", "sku2"] {
            assert!(is_plain_name(name), "{name}");
        }
        for name in [
            "",
            "ana@example.com",
            "has space",
            "4915112345678",
            "a.b",
            "n1234567",
        ] {
            assert!(!is_plain_name(name), "{name}");
        }
        assert!(!is_plain_name(&"a".repeat(65)));
    }

    #[test]
    fn serde_messages_lose_their_values() {
        for (from, to) in [
            (
                "invalid type: string \"ana@example.com\", expected u32 at line 1 column 9",
                "invalid type: string, expected u32",
            ),
            (
                "invalid value: integer `-2`, expected u32",
                "invalid value: integer, expected u32",
            ),
            (
                "invalid type: floating point `12.5`, expected u64",
                "invalid type: floating point, expected u64",
            ),
            (
                "invalid type: string \"a, expected b\", expected u32",
                "invalid type: string, expected u32",
            ),
            (
                "invalid type: map, expected a string",
                "invalid type: map, expected a string",
            ),
            (
                "unknown field `ana@example.com`, expected one of `order_id`",
                "unknown field (its name is not shown: not a plain name), expected one of `order_id`",
            ),
            (
                "unknown field `discount`, expected one of `order_id`",
                "unknown field `discount`, expected one of `order_id`",
            ),
            ("missing field `customer_id`", "missing field `customer_id`"),
        ] {
            assert_eq!(serde_message(from), to, "{from}");
        }
    }
}
