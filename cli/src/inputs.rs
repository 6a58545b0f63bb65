//! Orders to replay, as given on the command line: JSON Lines files, `-`
//! for stdin, and (with the `aws` feature) `s3://bucket/prefix`, a
//! decision log in S3, downloaded first into a private temporary folder
//! that goes when the replay is done.

use anyhow::Result;
use orderflow_replay::Input;
use std::path::PathBuf;

pub struct Inputs {
    pub inputs: Vec<Input>,
    downloaded: Option<PathBuf>,
}

impl Drop for Inputs {
    fn drop(&mut self) {
        if let Some(dir) = &self.downloaded {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub async fn resolve(args: &[String]) -> Result<Inputs> {
    let mut out = Inputs {
        inputs: Vec::new(),
        downloaded: None,
    };
    for arg in args {
        match arg.strip_prefix("s3://") {
            None => out.inputs.push(Input::from_arg(arg)),
            Some(location) => {
                let files = download(location, &mut out.downloaded).await?;
                out.inputs.extend(files.into_iter().map(Input::File));
            }
        }
    }
    Ok(out)
}

#[cfg(feature = "aws")]
async fn download(location: &str, dir: &mut Option<PathBuf>) -> Result<Vec<PathBuf>> {
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    let dir = match dir {
        Some(d) => d.clone(),
        None => {
            let d = std::env::temp_dir().join(format!("orderflow-replay-{}", std::process::id()));
            std::fs::create_dir_all(&d)?;
            // The log holds whole orders: private to this user.
            #[cfg(unix)]
            std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
            *dir = Some(d.clone());
            d
        }
    };
    let sdk = orderflow_aws::clients::sdk_config().await;
    let s3 = orderflow_aws::clients::s3(&sdk);
    let files = orderflow_aws::decision_log::download(&s3, bucket, prefix, &dir)
        .await
        .map_err(anyhow::Error::msg)?;
    if files.is_empty() {
        anyhow::bail!("s3://{location}: no objects under it");
    }
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

#[cfg(not(feature = "aws"))]
async fn download(location: &str, _: &mut Option<PathBuf>) -> Result<Vec<PathBuf>> {
    anyhow::bail!(
        "s3://{location}: reading from S3 needs orderflow's `aws` feature (cargo install --path cli)"
    )
}
