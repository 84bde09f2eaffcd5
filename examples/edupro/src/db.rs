//! The app's own data (users and students) on SQLite or PostgreSQL through sqlx's `Any`
//! driver; every value is a bind parameter.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

/// A student record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Student {
    /// Id.
    pub id: i64,
    /// Student number.
    pub nis: String,
    /// Full name.
    pub name: String,
    /// Class, e.g. `XI-2`.
    pub class: String,
    /// Average score (0..100).
    pub score: f64,
}

/// What a client sends to create or update a student.
#[derive(Debug, Clone, Deserialize)]
pub struct StudentInput {
    /// Student number.
    pub nis: String,
    /// Full name.
    pub name: String,
    /// Class.
    pub class: String,
    /// Average score.
    #[serde(default)]
    pub score: f64,
}

/// A user who may log in.
#[derive(Debug, Clone)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// `admin`, `teacher` or `student`.
    pub role: String,
    password_hash: String,
}

/// The app's database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (id BIGINT PRIMARY KEY, username TEXT NOT NULL UNIQUE, role TEXT NOT NULL, password_hash TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS students (id BIGINT PRIMARY KEY, nis TEXT NOT NULL UNIQUE, name TEXT NOT NULL, class TEXT NOT NULL, score DOUBLE PRECISION NOT NULL)",
];

fn hash(password: &str) -> Result<String, sqlx::Error> {
    Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .map_err(|e| sqlx::Error::Protocol(format!("hashing failed: {e}")))
}

impl Db {
    /// Connects (creating a SQLite file and its folder if needed) and creates the tables.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let url = match url.strip_prefix("sqlite://") {
            Some(path) => {
                if let Some(parent) = std::path::Path::new(path).parent() {
                    std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
                }
                format!("sqlite://{path}?mode=rwc")
            }
            None => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await?;
        }
        Ok(Self { pool })
    }

    /// Creates the demo users (admin, guru01, siswa01) with `password` unless they exist.
    pub async fn create_demo_users(&self, password: &str) -> Result<(), sqlx::Error> {
        for (id, name, role) in [
            (1_i64, "admin", "admin"),
            (2, "guru01", "teacher"),
            (3, "siswa01", "student"),
        ] {
            let exists = sqlx::query("SELECT id FROM users WHERE username = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            if exists.is_none() {
                sqlx::query(
                    "INSERT INTO users (id, username, role, password_hash) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(name)
                .bind(role)
                .bind(hash(password)?)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// The user with this name and password.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, sqlx::Error> {
        let row =
            sqlx::query("SELECT id, username, role, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let user = User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            role: row.try_get("role")?,
            password_hash: row.try_get("password_hash")?,
        };
        let ok = PasswordHash::new(&user.password_hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        Ok(ok.then_some(user))
    }

    fn student(row: &sqlx::any::AnyRow) -> Result<Student, sqlx::Error> {
        Ok(Student {
            id: row.try_get("id")?,
            nis: row.try_get("nis")?,
            name: row.try_get("name")?,
            class: row.try_get("class")?,
            score: row.try_get("score")?,
        })
    }

    /// Students whose name, number or class contains `search` (all without it).
    pub async fn list_students(&self, search: Option<&str>) -> Result<Vec<Student>, sqlx::Error> {
        let pattern = format!("%{}%", search.unwrap_or("").to_lowercase());
        let rows = sqlx::query(
            "SELECT id, nis, name, class, score FROM students WHERE LOWER(name) LIKE $1 OR LOWER(nis) LIKE $1 OR LOWER(class) LIKE $1 ORDER BY id LIMIT 200",
        )
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::student).collect()
    }

    /// One student.
    pub async fn get_student(&self, id: i64) -> Result<Option<Student>, sqlx::Error> {
        sqlx::query("SELECT id, nis, name, class, score FROM students WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(Self::student)
            .transpose()
    }

    /// Creates a student; `None` if the number is taken. Creates run concurrently, so the
    /// number (or, on PostgreSQL, the next id) can be taken between the check and the insert:
    /// that is a unique violation to look at again, not a server error.
    pub async fn create_student(
        &self,
        input: &StudentInput,
    ) -> Result<Option<Student>, sqlx::Error> {
        const ATTEMPTS: usize = 5;
        let mut attempt = 1;
        loop {
            let taken = sqlx::query("SELECT id FROM students WHERE nis = $1")
                .bind(&input.nis)
                .fetch_optional(&self.pool)
                .await?;
            if taken.is_some() {
                return Ok(None);
            }
            // The next id is taken in the insert itself: SQLite runs it under its write lock,
            // so only PostgreSQL's concurrent creates can still pick the same one.
            let inserted = sqlx::query(
                "INSERT INTO students (id, nis, name, class, score) \
                 SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4 FROM students RETURNING id",
            )
            .bind(&input.nis)
            .bind(&input.name)
            .bind(&input.class)
            .bind(input.score)
            .fetch_one(&self.pool)
            .await;
            match inserted {
                Ok(row) => return self.get_student(row.try_get("id")?).await,
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() && attempt < ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Updates a student; `None` if absent.
    pub async fn update_student(
        &self,
        id: i64,
        input: &StudentInput,
    ) -> Result<Option<Student>, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE students SET nis = $1, name = $2, class = $3, score = $4 WHERE id = $5",
        )
        .bind(&input.nis)
        .bind(&input.name)
        .bind(&input.class)
        .bind(input.score)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_student(id).await
    }

    /// Deletes a student; false if absent.
    pub async fn delete_student(&self, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM students WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Number of students and users.
    pub async fn counts(&self) -> Result<(i64, i64), sqlx::Error> {
        let students: i64 = sqlx::query("SELECT COUNT(*) AS n FROM students")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let users: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok((students, users))
    }
}
