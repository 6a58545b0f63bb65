//! `orderflow run`'s inputs read as chunks of orders, so an input of any
//! length is never held whole: JSON Lines a chunk of lines at a time (parsed
//! on the workers); a JSON array read whole, as one document must be.

use anyhow::{Context, Result, bail};
use orderflow_host::order::parse_orders;
use orderflow_pipeline::embedded::stream::Chunk;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// One input, opened and looked into: refused up front when it holds no
/// orders, so nothing runs before every input is known to be usable.
pub struct Input {
    /// As the reports name it.
    pub name: String,
    body: Body,
}

enum Body {
    Lines {
        reader: Box<dyn BufRead>,
        line: usize,
    },
    Parsed(std::vec::IntoIter<orderflow_host::order::Parsed>),
}

impl Input {
    pub fn open(path: &Path) -> Result<Input> {
        let stdin = path == Path::new("-");
        let name = path.display().to_string();
        let reading = || {
            format!(
                "reading orders from {}",
                if stdin { "stdin" } else { &name }
            )
        };
        let raw: Box<dyn Read> = if stdin {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(path).with_context(reading)?)
        };
        let mut reader = BufReader::with_capacity(1 << 16, raw);
        // The leading white space, kept so line numbers stay those of the file.
        let mut blank = Vec::new();
        let first = loop {
            let buf = reader.fill_buf().with_context(reading)?;
            if buf.is_empty() {
                break None;
            }
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    let first = buf[i];
                    blank.extend_from_slice(&buf[..i]);
                    reader.consume(i);
                    break Some(first);
                }
                None => {
                    let n = buf.len();
                    blank.extend_from_slice(buf);
                    reader.consume(n);
                }
            }
        };
        let reader = std::io::Cursor::new(blank).chain(reader);
        let body = match first {
            None => None,
            Some(b'[') => {
                let mut text = String::new();
                { reader }.read_to_string(&mut text).with_context(reading)?;
                let orders = parse_orders(&text);
                (!orders.is_empty()).then(|| Body::Parsed(orders.into_iter()))
            }
            Some(_) => Some(Body::Lines {
                reader: Box::new(reader),
                line: 0,
            }),
        };
        match body {
            Some(body) => Ok(Input { name, body }),
            None => bail!(
                "{}: no orders in it (JSON Lines, or a JSON array of orders)",
                if stdin { "stdin" } else { &name }
            ),
        }
    }

    /// The next chunk of at most `size` orders; `None` at the end.
    fn chunk(&mut self, size: usize) -> Result<Option<Chunk>> {
        match &mut self.body {
            Body::Parsed(orders) => {
                let chunk: Vec<_> = orders.take(size).collect();
                Ok((!chunk.is_empty()).then_some(Chunk::Parsed(chunk)))
            }
            Body::Lines { reader, line } => {
                let mut lines = Vec::with_capacity(size);
                let mut buf = Vec::new();
                while lines.len() < size {
                    buf.clear();
                    let n = reader
                        .read_until(b'\n', &mut buf)
                        .with_context(|| format!("reading {}", self.name))?;
                    if n == 0 {
                        break;
                    }
                    *line += 1;
                    let text = String::from_utf8(std::mem::take(&mut buf))
                        .map_err(|_| anyhow::anyhow!("{}:{line}: not UTF-8 text", self.name))?;
                    // As `str::lines` reads a line: without its `\n` or `\r\n`.
                    let text = text.strip_suffix('\n').unwrap_or(&text);
                    let text = text.strip_suffix('\r').unwrap_or(text);
                    if !text.trim().is_empty() {
                        lines.push((*line, text.to_string()));
                    }
                }
                Ok((!lines.is_empty()).then_some(Chunk::Lines(lines)))
            }
        }
    }
}

/// Every input's chunks in turn, each tagged with its input's index. A
/// read error ends the chunks and is kept in `error` for the caller.
pub struct Chunks {
    inputs: Vec<Input>,
    at: usize,
    size: usize,
    pub error: Option<anyhow::Error>,
}

impl Chunks {
    pub fn open(paths: &[PathBuf], size: usize) -> Result<Chunks> {
        Ok(Chunks {
            inputs: paths
                .iter()
                .map(|p| Input::open(p))
                .collect::<Result<_>>()?,
            at: 0,
            size,
            error: None,
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.inputs.iter().map(|i| i.name.clone()).collect()
    }
}

impl Iterator for Chunks {
    type Item = (usize, Chunk);

    fn next(&mut self) -> Option<(usize, Chunk)> {
        while self.error.is_none() && self.at < self.inputs.len() {
            match self.inputs[self.at].chunk(self.size) {
                Ok(Some(chunk)) => return Some((self.at, chunk)),
                Ok(None) => self.at += 1,
                Err(e) => self.error = Some(e),
            }
        }
        None
    }
}
