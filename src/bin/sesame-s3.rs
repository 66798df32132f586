//! `sesame-s3`: the S3 helper that `sesame` starts for R2 leases and
//! `sesame r2 verify`. A separate executable so that `sesame` does not link
//! aws-sdk-s3 (see crates/s3-helper).

fn main() -> std::process::ExitCode {
    sesame_s3_helper::main()
}
