//! An S3-compatible server (moto's server mode, from PyPI) on a loopback
//! port, for the object-storage lake. `scripts/test.sh` installs it.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto S3 server, stopped on drop.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

const KEY: &str = "tollgate-test";

impl S3Server {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> S3Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (scripts/test.sh installs moto[server])");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto's S3 server did not start on {addr}; install it with `pip install moto[server]` or run scripts/test.sh"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        S3Server {
            child,
            endpoint: format!("http://{addr}"),
        }
    }

    /// The environment `tollgate` needs to use this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    fn boto(&self, code: &str) {
        let script = format!(
            "import boto3, os, sys\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='{KEY}', aws_secret_access_key='{KEY}', region_name='us-east-1')\n{code}",
            self.endpoint
        );
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "boto3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, bucket: &str) {
        self.boto(&format!("s3.create_bucket(Bucket='{bucket}')"));
    }

    /// Copies every object under `prefix` into `dest`, keeping relative paths.
    pub fn download(&self, bucket: &str, prefix: &str, dest: &Path) {
        self.boto(&format!(
            r#"
dest = r'{dest}'
pages = s3.get_paginator('list_objects_v2').paginate(Bucket='{bucket}', Prefix='{prefix}')
for page in pages:
    for o in page.get('Contents', []):
        rel = o['Key'][len('{prefix}'):]
        path = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file('{bucket}', o['Key'], path)
"#,
            dest = dest.display()
        ));
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
