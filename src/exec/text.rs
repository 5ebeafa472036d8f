//! Text features as SQL functions, the ones the classic Spark text lab builds a TF-IDF search from:
//! `tokenize(text [, options])`, `ngrams(tokens, n)` and `hashing_tf(tokens [, buckets [, binary]])`. The
//! `tf_idf` table function (`crate::sql::table_functions`) is SQL over `tokenize`.
//!
//! - Words are Unicode's word boundaries (UAX #29, `unicode-segmentation`): a run of letters, digits and the
//!   marks inside a word (`can't`, `3.14`, `naïve`); punctuation and spaces are not words.
//! - Stop words are the Snowball/NLTK lists (`stop-words`; Spark's `StopWordsRemover` default for English is the
//!   same Snowball list), compared in lower case as Spark does by default.
//! - Stems are Snowball's (`rust-stemmers`), the stemmers Lucene, Spark NLP and NLTK ship.
//! - `hashing_tf` is Spark's `HashingTF`: MurmurHash3 x86_32 with seed 42 of the term's UTF-8 bytes, the
//!   non-negative remainder by the number of buckets, as a map from bucket to count (Spark's sparse vector).
//!
//! The invariant: a function is pure: the same arguments give the same answer on any machine (no locale, no
//! hash seed from the process).

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, Int32Builder, ListBuilder, MapBuilder, MapFieldNames,
    StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{DataFusionError, ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use unicode_segmentation::UnicodeSegmentation;

/// Spark's `HashingTF` default number of features (2^18).
pub const SPARK_BUCKETS: i64 = 1 << 18;
/// Spark's `HashingTF` seed.
const SPARK_SEED: u32 = 42;

/// How `tokenize` turns text into terms, from its options string (`'stop_words=english, stem=english'`).
///
/// In order: words by UAX #29; lower-cased (`lower`, default true); stop words dropped (`stop_words`, a language
/// name or ISO code, default none); stemmed (`stem`, a Snowball language, default none); words shorter than
/// `min_length` characters dropped (default 1).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizeOptions {
    pub lower: bool,
    pub stop_words: Option<String>,
    pub stem: Option<String>,
    pub min_length: usize,
}

impl Default for TokenizeOptions {
    fn default() -> Self {
        TokenizeOptions {
            lower: true,
            stop_words: None,
            stem: None,
            min_length: 1,
        }
    }
}

/// The option names `tokenize` takes.
pub const TOKENIZE_OPTIONS: [&str; 4] = ["lower", "stop_words", "stem", "min_length"];

/// Snowball's languages, by name and ISO 639-1 code.
const LANGUAGES: [(&str, &str, rust_stemmers::Algorithm); 18] = {
    use rust_stemmers::Algorithm::*;
    [
        ("arabic", "ar", Arabic),
        ("danish", "da", Danish),
        ("dutch", "nl", Dutch),
        ("english", "en", English),
        ("finnish", "fi", Finnish),
        ("french", "fr", French),
        ("german", "de", German),
        ("greek", "el", Greek),
        ("hungarian", "hu", Hungarian),
        ("italian", "it", Italian),
        ("norwegian", "no", Norwegian),
        ("portuguese", "pt", Portuguese),
        ("romanian", "ro", Romanian),
        ("russian", "ru", Russian),
        ("spanish", "es", Spanish),
        ("swedish", "sv", Swedish),
        ("tamil", "ta", Tamil),
        ("turkish", "tr", Turkish),
    ]
};

fn language(name: &str) -> Option<(&'static str, rust_stemmers::Algorithm)> {
    let name = name.to_ascii_lowercase();
    LANGUAGES
        .iter()
        .find(|(n, code, _)| *n == name || *code == name)
        .map(|(_, code, a)| (*code, *a))
}

/// An options string's `key=value` pairs (separated by commas or spaces), in order; a part without `=` is an
/// error naming it.
pub fn option_pairs(text: &str) -> std::result::Result<Vec<(&str, &str)>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .ok_or_else(|| format!("`{pair}` is not `key=value`"))
        })
        .collect()
}

fn language_names() -> String {
    LANGUAGES.map(|(n, _, _)| n).join(", ")
}

impl TokenizeOptions {
    /// Options from `key=value` pairs separated by commas or spaces; an unknown key or a bad value is an error
    /// naming it.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut o = TokenizeOptions::default();
        for (key, value) in option_pairs(text)? {
            o.set(key, value)?;
        }
        Ok(o)
    }

    /// Sets one option by name.
    pub fn set(&mut self, key: &str, value: &str) -> std::result::Result<(), String> {
        let value = value.trim();
        let none = |v: &str| v.is_empty() || v.eq_ignore_ascii_case("none");
        match key.trim().to_ascii_lowercase().as_str() {
            "lower" => {
                self.lower = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("`lower` is true or false, not `{value}`")),
                }
            }
            "stop_words" if none(value) => self.stop_words = None,
            "stop_words" => {
                let (code, _) = language(value).ok_or_else(|| {
                    format!(
                        "no stop words for `{value}`: one of {} or none",
                        language_names()
                    )
                })?;
                if stop_words::lookup(code).is_none() {
                    return Err(format!("no stop words for `{value}`"));
                }
                self.stop_words = Some(code.to_string());
            }
            "stem" if none(value) => self.stem = None,
            "stem" => {
                let (code, _) = language(value).ok_or_else(|| {
                    format!(
                        "no stemmer for `{value}`: one of {} or none",
                        language_names()
                    )
                })?;
                self.stem = Some(code.to_string());
            }
            "min_length" => {
                self.min_length = value
                    .parse()
                    .map_err(|_| format!("`min_length` is a whole number, not `{value}`"))?
            }
            other => {
                return Err(format!(
                    "unknown option `{other}`: the options are {}",
                    TOKENIZE_OPTIONS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The options as `parse` reads them back (what `tf_idf` passes to `tokenize`).
    pub fn render(&self) -> String {
        format!(
            "lower={}, stop_words={}, stem={}, min_length={}",
            self.lower,
            self.stop_words.as_deref().unwrap_or("none"),
            self.stem.as_deref().unwrap_or("none"),
            self.min_length
        )
    }
}

/// A tokenizer made once from its options.
pub struct Tokenizer {
    lower: bool,
    stop: Option<std::collections::HashSet<&'static str>>,
    stemmer: Option<rust_stemmers::Stemmer>,
    min_length: usize,
}

impl Tokenizer {
    pub fn new(o: &TokenizeOptions) -> Self {
        Tokenizer {
            lower: o.lower,
            stop: o
                .stop_words
                .as_deref()
                .and_then(stop_words::lookup)
                .map(|words| words.iter().copied().collect()),
            stemmer: o
                .stem
                .as_deref()
                .and_then(language)
                .map(|(_, a)| rust_stemmers::Stemmer::create(a)),
            min_length: o.min_length,
        }
    }

    /// The terms of `text`, in order.
    pub fn terms<'t>(&'t self, text: &'t str) -> impl Iterator<Item = String> + 't {
        text.unicode_words().filter_map(move |w| {
            let lower = w.to_lowercase();
            if let Some(stop) = &self.stop
                && stop.contains(lower.as_str())
            {
                return None;
            }
            let word = if self.lower { lower } else { w.to_string() };
            let word = match &self.stemmer {
                Some(s) => s.stem(&word).into_owned(),
                None => word,
            };
            (word.chars().count() >= self.min_length).then_some(word)
        })
    }
}

/// The list type `tokenize` and `ngrams` return: a list of strings.
fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// The map type `hashing_tf` returns: bucket → count.
pub fn bucket_map() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Int32, false),
                Field::new("value", DataType::Float64, true),
            ])),
            false,
        )),
        false,
    )
}

/// A constant string argument, or an error naming the function and the argument.
fn constant_str(f: &str, what: &str, v: &ColumnarValue) -> Result<Option<String>> {
    match v {
        ColumnarValue::Scalar(s) => match s.cast_to(&DataType::Utf8)? {
            ScalarValue::Utf8(v) => Ok(v),
            _ => exec_err!("{f}: {what} must be text"),
        },
        ColumnarValue::Array(_) => exec_err!("{f}: {what} must be a constant, not a column"),
    }
}

/// A constant whole-number argument.
fn constant_i64(f: &str, what: &str, v: &ColumnarValue) -> Result<Option<i64>> {
    match v {
        ColumnarValue::Scalar(s) => match s.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(v) => Ok(v),
            _ => exec_err!("{f}: {what} must be a whole number"),
        },
        ColumnarValue::Array(_) => exec_err!("{f}: {what} must be a constant, not a column"),
    }
}

fn constant_bool(f: &str, what: &str, v: &ColumnarValue) -> Result<Option<bool>> {
    match v {
        ColumnarValue::Scalar(s) => match s.cast_to(&DataType::Boolean)? {
            ScalarValue::Boolean(v) => Ok(v),
            _ => exec_err!("{f}: {what} must be true or false"),
        },
        ColumnarValue::Array(_) => exec_err!("{f}: {what} must be a constant, not a column"),
    }
}

/// `tokenize(text [, options])`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Tokenize {
    signature: Signature,
}

impl ScalarUDFImpl for Tokenize {
    fn name(&self) -> &str {
        "tokenize"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(string_list())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let options = match args.args.get(1) {
            Some(v) => {
                let text = constant_str("tokenize", "the options", v)?.unwrap_or_default();
                TokenizeOptions::parse(&text)
                    .map_err(|e| DataFusionError::Execution(format!("tokenize: {e}")))?
            }
            None => TokenizeOptions::default(),
        };
        let tokenizer = Tokenizer::new(&options);
        let text = args.args[0].to_array(args.number_rows)?;
        let text = datafusion::arrow::compute::cast(&text, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let mut out = ListBuilder::new(StringBuilder::new());
        for v in text.iter() {
            match v {
                Some(t) => {
                    for term in tokenizer.terms(t) {
                        out.values().append_value(term);
                    }
                    out.append(true);
                }
                None => out.append(false),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

/// The strings of a list value (NULL elements skipped), for `ngrams` and `hashing_tf`.
fn each_list(array: &ArrayRef, mut f: impl FnMut(Option<Vec<&str>>) -> Result<()>) -> Result<()> {
    let list = array.as_list::<i32>();
    let values = datafusion::arrow::compute::cast(list.values(), &DataType::Utf8)?;
    let values = values.as_string::<i32>();
    for i in 0..list.len() {
        if list.is_null(i) {
            f(None)?;
            continue;
        }
        let (start, end) = (
            list.value_offsets()[i] as usize,
            list.value_offsets()[i + 1] as usize,
        );
        let terms = (start..end)
            .filter(|&j| values.is_valid(j))
            .map(|j| values.value(j))
            .collect();
        f(Some(terms))?;
    }
    Ok(())
}

/// A list argument as `List<Utf8>` whatever list it came as.
fn as_string_list(v: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
    let a = v.to_array(rows)?;
    Ok(datafusion::arrow::compute::cast(&a, &string_list())?)
}

/// `ngrams(tokens, n)`: Spark's `NGram`, the runs of `n` consecutive tokens joined by a space; a list shorter
/// than `n` gives an empty list.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Ngrams {
    signature: Signature,
}

impl ScalarUDFImpl for Ngrams {
    fn name(&self) -> &str {
        "ngrams"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        list_argument("ngrams", &args[0])?;
        Ok(string_list())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = constant_i64("ngrams", "n", &args.args[1])?;
        let n = match n {
            Some(n) if n >= 1 => n as usize,
            Some(n) => return exec_err!("ngrams: n is at least 1, not {n}"),
            None => return exec_err!("ngrams: n is NULL"),
        };
        let tokens = as_string_list(&args.args[0], args.number_rows)?;
        let mut out = ListBuilder::new(StringBuilder::new());
        each_list(&tokens, |terms| {
            match terms {
                Some(terms) => {
                    for w in terms.windows(n) {
                        out.values().append_value(w.join(" "));
                    }
                    out.append(true);
                }
                None => out.append(false),
            }
            Ok(())
        })?;
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

fn list_argument(f: &str, t: &DataType) -> Result<()> {
    match t {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => Ok(()),
        DataType::Null => Ok(()),
        other => plan_err!(
            "{f} takes a list of terms (from tokenize), not {other}: write {f}(tokenize(text), ...)"
        ),
    }
}

/// Spark's `HashingTF` index of `term` among `buckets`.
pub fn spark_bucket(term: &str, buckets: i64) -> i32 {
    let mut bytes = term.as_bytes();
    // Reading a byte slice cannot fail.
    let h = murmur3::murmur3_32(&mut bytes, SPARK_SEED).expect("a byte slice reads") as i32;
    (h as i64).rem_euclid(buckets) as i32
}

/// `hashing_tf(tokens [, buckets [, binary]])`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct HashingTf {
    signature: Signature,
}

impl ScalarUDFImpl for HashingTf {
    fn name(&self) -> &str {
        "hashing_tf"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        list_argument("hashing_tf", &args[0])?;
        Ok(bucket_map())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let buckets = match args.args.get(1) {
            Some(v) => constant_i64("hashing_tf", "the number of buckets", v)?,
            None => Some(SPARK_BUCKETS),
        };
        let buckets = match buckets {
            Some(b) if (1..=i32::MAX as i64).contains(&b) => b,
            Some(b) => {
                return exec_err!("hashing_tf: the number of buckets is 1 to 2147483647, not {b}");
            }
            None => return exec_err!("hashing_tf: the number of buckets is NULL"),
        };
        let binary = match args.args.get(2) {
            Some(v) => constant_bool("hashing_tf", "binary", v)?.unwrap_or(false),
            None => false,
        };
        let tokens = as_string_list(&args.args[0], args.number_rows)?;
        let names = MapFieldNames {
            entry: "entries".into(),
            key: "key".into(),
            value: "value".into(),
        };
        let mut out = MapBuilder::new(Some(names), Int32Builder::new(), Float64Builder::new());
        each_list(&tokens, |terms| {
            match terms {
                Some(terms) => {
                    let mut counts = BTreeMap::<i32, f64>::new();
                    for t in terms {
                        let c = counts.entry(spark_bucket(t, buckets)).or_default();
                        *c = if binary { 1.0 } else { *c + 1.0 };
                    }
                    for (k, v) in counts {
                        out.keys().append_value(k);
                        out.values().append_value(v);
                    }
                    out.append(true)?;
                }
                None => out.append(false)?,
            }
            Ok(())
        })?;
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

/// The text functions, registered in every session.
pub fn udfs() -> Vec<ScalarUDF> {
    let text = [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View];
    let mut tokenize = vec![];
    for t in &text {
        tokenize.push(TypeSignature::Exact(vec![t.clone()]));
        tokenize.push(TypeSignature::Exact(vec![t.clone(), DataType::Utf8]));
    }
    vec![
        ScalarUDF::new_from_impl(Tokenize {
            signature: Signature::one_of(tokenize, Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(Ngrams {
            signature: Signature::one_of(vec![TypeSignature::Any(2)], Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(HashingTf {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Any(1),
                    TypeSignature::Any(2),
                    TypeSignature::Any(3),
                ],
                Volatility::Immutable,
            ),
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str, options: &str) -> Vec<String> {
        let o = TokenizeOptions::parse(options).unwrap();
        Tokenizer::new(&o).terms(text).collect()
    }

    #[test]
    fn words_are_unicode_words_lower_cased() {
        assert_eq!(
            terms("The naïve café's 3.14 (Ünïcode), can't-stop!", ""),
            ["the", "naïve", "café's", "3.14", "ünïcode", "can't", "stop"]
        );
        assert_eq!(terms("Hello World", "lower=false"), ["Hello", "World"]);
        assert_eq!(terms("  ,;  ", ""), Vec::<String>::new());
    }

    #[test]
    fn stop_words_and_stems_and_lengths() {
        assert_eq!(
            terms(
                "The runners were running to the finishing lines",
                "stop_words=english stem=english"
            ),
            ["runner", "run", "finish", "line"]
        );
        assert_eq!(terms("a bb ccc", "min_length=2"), ["bb", "ccc"]);
        // Stop words are matched in lower case even when the terms keep their case (Spark's default).
        assert_eq!(terms("The Cat", "lower=false, stop_words=en"), ["Cat"]);
    }

    #[test]
    fn bad_options_are_named() {
        for (bad, says) in [
            ("stem=klingon", "no stemmer for `klingon`"),
            ("colour=red", "unknown option `colour`"),
            ("lower", "`lower` is not `key=value`"),
            ("min_length=x", "`min_length` is a whole number"),
            ("lower=maybe", "`lower` is true or false"),
        ] {
            let e = TokenizeOptions::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let o = TokenizeOptions::parse("stop_words=english, stem=de, lower=false").unwrap();
        assert_eq!(TokenizeOptions::parse(&o.render()).unwrap(), o);
    }

    #[test]
    fn buckets_are_sparks() {
        // MurmurHash3 x86_32's published vectors (seed 0 and 42 from the reference implementation's tests).
        let mut empty: &[u8] = b"";
        assert_eq!(murmur3::murmur3_32(&mut empty, 0).unwrap(), 0);
        let mut hello: &[u8] = b"hello";
        assert_eq!(murmur3::murmur3_32(&mut hello, 0).unwrap(), 0x248bfa47);
        // The remainder is taken of the signed hash, made non-negative (Spark's Utils.nonNegativeMod).
        for t in ["a", "b", "spark", "hashing", "ü", ""] {
            let b = spark_bucket(t, 1000);
            assert!((0..1000).contains(&b), "{t}: {b}");
        }
        assert_eq!(spark_bucket("x", 1), 0);
    }
}
