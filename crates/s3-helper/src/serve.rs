//! The helper's loop: requests in on stdin, replies out on stdout, each
//! operation running concurrently with the others.

use std::process::ExitCode;
use std::sync::Arc;

use sesame_lease_r2::s3::protocol::{Reply, Request, Response};
use sesame_lease_r2::s3::Transport;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::Local;

/// The `sesame-s3` executable: serves stdin and stdout until stdin closes.
/// Exit status 0, or 1 if the runtime cannot start or stdout is gone.
pub fn main() -> ExitCode {
    if std::env::args_os().len() > 1 {
        eprintln!(
            "sesame-s3: the S3 helper of sesame; sesame starts it and talks to it over stdin and stdout. \
             It takes no arguments."
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sesame-s3: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let transport = Arc::new(Local::default());
    let input = BufReader::new(tokio::io::stdin());
    match runtime.block_on(serve(transport, input, tokio::io::stdout())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sesame-s3: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Answers every request line of `input` on `output`, concurrently, until
/// `input` ends and every answer is written. A line that is not a request
/// is answered with id 0 and a transport failure.
pub async fn serve<R, W>(transport: Arc<dyn Transport>, input: R, mut output: W) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (replies, mut outbox) = mpsc::unbounded_channel::<Response>();
    let reader = async move {
        let mut lines = input.lines();
        while let Some(line) = lines.next_line().await? {
            if line.trim().is_empty() {
                continue;
            }
            let replies = replies.clone();
            match serde_json::from_str::<Request>(&line) {
                Ok(request) => {
                    let transport = transport.clone();
                    tokio::spawn(async move {
                        let reply = transport.call(&request.connection, request.operation).await;
                        let _ = replies.send(Response { id: request.id, reply });
                    });
                }
                Err(e) => {
                    let reply = Reply::transport(format!("the S3 helper cannot read the request: {e}"));
                    let _ = replies.send(Response { id: 0, reply });
                }
            }
        }
        Ok::<(), std::io::Error>(())
        // `replies` drops here; the writer ends when the last task has sent.
    };
    let writer = async move {
        while let Some(response) = outbox.recv().await {
            let mut line = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
            line.push(b'\n');
            output.write_all(&line).await?;
            output.flush().await?;
        }
        Ok::<(), std::io::Error>(())
    };
    let (read, written) = tokio::join!(reader, writer);
    read.and(written)
}
