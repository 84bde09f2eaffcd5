//! The HTTP API: login, students CRUD, predictions, an admin page. Each route logs its
//! domain event through the `EventLogger` (when eventlog is on).

use axum::extract::FromRequest;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use eventlog_client::{AuthAction, CrudAction, Event};
use eventlog_layer::{CorrelationId, UserInfo};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Claims;
use crate::db::StudentInput;
use crate::error::AppError;
use crate::AppState;

/// Login input, as JSON or form.
#[derive(Debug, Deserialize)]
pub struct LoginInput {
    username: String,
    password: String,
}

/// `POST /api/auth/login` (form or JSON): a JWT for valid credentials.
pub async fn login(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let input: LoginInput = if is_form {
        let axum::extract::Form(input) =
            axum::extract::Form::<LoginInput>::from_request(request, &state)
                .await
                .map_err(|e| AppError::BadRequest(format!("invalid login form: {e}")))?;
        input
    } else {
        let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
            .await
            .map_err(|e| AppError::BadRequest(format!("unreadable body: {e}")))?;
        serde_json::from_slice(&body)
            .map_err(|e| AppError::BadRequest(format!("invalid login body: {e}")))?
    };
    let Some(user) = state
        .db
        .authenticate(&input.username, &input.password)
        .await?
    else {
        state.log(|l| {
            l.log_auth_event(
                AuthAction::LoginFailed,
                &input.username,
                None,
                Some("invalid username or password"),
            )
        });
        return Err(AppError::BadCredentials);
    };
    let id = user.id.to_string();
    let token = state.tokens.issue(&id, &user.username, &user.role)?;
    state.log(|l| {
        l.log(
            eventlog_client::domain::auth_event(
                AuthAction::LoginSucceeded,
                &user.username,
                Some(&id),
                None,
            )
            .user(id.clone(), Some(&user.username), Some(&user.role)),
        )
    });
    let mut response =
        Json(json!({"access_token": token, "token_type": "bearer", "role": user.role}))
            .into_response();
    response.extensions_mut().insert(UserInfo {
        id,
        name: Some(user.username),
        role: Some(user.role),
        tenant: None,
    });
    Ok(response)
}

/// `?search=` of the students list.
#[derive(Debug, Deserialize)]
pub struct Search {
    search: Option<String>,
}

/// `GET /api/students?search=`.
pub async fn list_students(
    State(state): State<AppState>,
    _claims: Claims,
    Query(q): Query<Search>,
) -> Result<Response, AppError> {
    let students = state.db.list_students(q.search.as_deref()).await?;
    Ok(Json(json!({"students": students, "count": students.len()})).into_response())
}

fn can_write(claims: &Claims) -> Result<(), AppError> {
    match claims.role.as_str() {
        "admin" | "teacher" => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// The event by the signed-in user, joined to its request's event by the layer's
/// correlation id (absent when edupro runs without eventlog).
fn actor(event: Event, claims: &Claims, request: &Option<Extension<CorrelationId>>) -> Event {
    let event = event.user(claims.sub.clone(), Some(&claims.name), Some(&claims.role));
    match request {
        Some(Extension(CorrelationId(id))) => event.correlation(id.clone()),
        None => event,
    }
}

/// `POST /api/students` (teachers and admins).
pub async fn create_student(
    State(state): State<AppState>,
    claims: Claims,
    request: Option<Extension<CorrelationId>>,
    Json(input): Json<StudentInput>,
) -> Result<Response, AppError> {
    can_write(&claims)?;
    let student = state
        .db
        .create_student(&input)
        .await?
        .ok_or_else(|| AppError::Conflict(format!("student number {} exists", input.nis)))?;
    state.log(|l| {
        let e = eventlog_client::domain::crud_event(
            "student",
            &student.id.to_string(),
            CrudAction::Create(json!(student)),
        )
        .with_code("DATA-001");
        l.log(actor(e, &claims, &request));
    });
    Ok((StatusCode::CREATED, Json(student)).into_response())
}

/// `GET /api/students/{id}`.
pub async fn get_student(
    State(state): State<AppState>,
    _claims: Claims,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let student = state.db.get_student(id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(student).into_response())
}

/// `PUT /api/students/{id}`: logs the changed fields' old and new values.
pub async fn update_student(
    State(state): State<AppState>,
    claims: Claims,
    request: Option<Extension<CorrelationId>>,
    Path(id): Path<i64>,
    Json(input): Json<StudentInput>,
) -> Result<Response, AppError> {
    can_write(&claims)?;
    let old = state.db.get_student(id).await?.ok_or(AppError::NotFound)?;
    let new = state
        .db
        .update_student(id, &input)
        .await?
        .ok_or(AppError::NotFound)?;
    state.log(|l| {
        let e = eventlog_client::domain::crud_event(
            "student",
            &id.to_string(),
            CrudAction::Update {
                old: json!(old),
                new: json!(new),
            },
        )
        .with_code("DATA-002");
        l.log(actor(e, &claims, &request));
    });
    Ok(Json(new).into_response())
}

/// `DELETE /api/students/{id}`: the event is logged before the delete.
pub async fn delete_student(
    State(state): State<AppState>,
    claims: Claims,
    request: Option<Extension<CorrelationId>>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    can_write(&claims)?;
    let old = state.db.get_student(id).await?.ok_or(AppError::NotFound)?;
    state.log(|l| {
        let e = eventlog_client::domain::crud_event(
            "student",
            &id.to_string(),
            CrudAction::Delete(json!(old)),
        )
        .with_code("DATA-003");
        l.log(actor(e, &claims, &request));
    });
    state.db.delete_student(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Input of a prediction.
#[derive(Debug, Deserialize)]
pub struct PredictionInput {
    student_id: i64,
}

/// `POST /api/predictions`: the predicted final grade of a student from their average
/// (a linear model fitted offline: grade = 0.82 * average + 14).
pub async fn predict(
    State(state): State<AppState>,
    claims: Claims,
    request: Option<Extension<CorrelationId>>,
    Json(input): Json<PredictionInput>,
) -> Result<Response, AppError> {
    let student = state
        .db
        .get_student(input.student_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let predicted = (0.82 * student.score + 14.0).clamp(0.0, 100.0);
    state.log(|l| {
        l.log(actor(
            Event::from_code("PRED-002")
                .resource("STUDENT", student.id.to_string())
                .meta("predicted_grade", predicted)
                .meta("model", "linear-v1"),
            &claims,
            &request,
        ))
    });
    Ok(
        Json(json!({"student_id": student.id, "predicted_grade": predicted, "model": "linear-v1"}))
            .into_response(),
    )
}

/// `GET /api/admin/stats` (admins only; others are refused and the refusal is logged).
pub async fn admin_stats(
    State(state): State<AppState>,
    claims: Claims,
    request: Option<Extension<CorrelationId>>,
) -> Result<Response, AppError> {
    if claims.role != "admin" {
        state.log(|l| {
            l.log(actor(
                Event::from_code("AUTH-009").description("non-admin asked for /api/admin/stats"),
                &claims,
                &request,
            ))
        });
        return Err(AppError::Forbidden);
    }
    let (students, users) = state.db.counts().await?;
    Ok(Json(json!({"students": students, "users": users})).into_response())
}

/// `GET /health`.
pub async fn health() -> &'static str {
    "ok"
}
