//! `arbitrary::Arbitrary` for the value model (feature `arbitrary`), for
//! structure-aware fuzzing. Generated trees are at most
//! [`MAX_DEPTH`] containers deep, so that they can be dropped, encoded and
//! decoded with the default [`Limits`](crate::Limits).

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::value::{Date, Dictionary, Integer, Value};

/// Deepest nesting of generated containers.
const MAX_DEPTH: usize = 8;

/// Most items in one generated container.
const MAX_ITEMS: usize = 8;

impl<'a> Arbitrary<'a> for Integer {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let v = u.int_in_range(Self::MIN..=Self::MAX)?;
        Ok(Self::new(v).unwrap_or(Self::from(0i64)))
    }
}

impl<'a> Arbitrary<'a> for Date {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let secs = f64::arbitrary(u)?;
        Ok(Self::from_seconds_since_2001(secs).unwrap_or_else(|| Self::from_unix_seconds(0)))
    }
}

impl<'a> Arbitrary<'a> for Value {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        value(u, 0)
    }
}

impl<'a> Arbitrary<'a> for Dictionary {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        dictionary(u, 1)
    }
}

fn value(u: &mut Unstructured<'_>, depth: usize) -> Result<Value> {
    let kinds = if depth < MAX_DEPTH { 9 } else { 7 };
    Ok(match u.choose_index(kinds)? {
        0 => Value::Boolean(bool::arbitrary(u)?),
        1 => Value::Data(Vec::arbitrary(u)?),
        2 => Value::Date(Date::arbitrary(u)?),
        3 => Value::Integer(Integer::arbitrary(u)?),
        4 => Value::Real(f64::arbitrary(u)?),
        5 => Value::String(String::arbitrary(u)?),
        6 => Value::Uid(u64::arbitrary(u)?),
        7 => {
            let n = u.int_in_range(0..=MAX_ITEMS)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(value(u, depth + 1)?);
            }
            Value::Array(items)
        }
        _ => Value::Dictionary(dictionary(u, depth + 1)?),
    })
}

fn dictionary(u: &mut Unstructured<'_>, depth: usize) -> Result<Dictionary> {
    let n = u.int_in_range(0..=MAX_ITEMS)?;
    let mut d = Dictionary::with_capacity(n);
    for _ in 0..n {
        let k = String::arbitrary(u)?;
        let v = value(u, depth)?;
        d.insert(k, v);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_roundtrip_in_binary() {
        let seed: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut u = Unstructured::new(&seed);
        for _ in 0..32 {
            let Ok(v) = Value::arbitrary(&mut u) else {
                break;
            };
            let bin = crate::to_binary_vec(&v).unwrap();
            let back = crate::from_binary(&bin, &crate::Limits::default()).unwrap();
            // NaN reals compare unequal; compare the encodings instead.
            assert_eq!(crate::to_binary_vec(&back).unwrap(), bin);
        }
    }
}
