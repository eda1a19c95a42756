import Foundation
import HTTPTypes
import Hummingbird
import YOLOv7

extension DetectionServer {
    /// The API of docs/SERVER.md. Every answer is JSON except `/metrics`; every refusal is
    /// `{"error": "..."}` with a 4xx or 503.
    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(JSONErrorMiddleware())
        router.get("healthz") { _, _ in
            self.instrumented("healthz") { JSONBody.response(["status": "ok"]) }
        }
        router.get("readyz") { _, _ in
            self.instrumented("readyz") {
                if self.isDraining { return APIError.draining.response }
                guard self.registry.isReady else { return APIError.notReady.response }
                return JSONBody.response(["status": "ready"])
            }
        }
        router.get("v1/models") { _, _ in
            self.instrumented("models") {
                JSONBody.response(ModelList(default: self.registry.defaultName, models: self.registry.models))
            }
        }
        router.get("metrics") { _, _ in
            self.instrumented("metrics") {
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: self.metrics.text())))
            }
        }
        router.post("v1/detect") { request, _ in
            let start = ContinuousClock.now
            let response = await self.instrumentedAsync("detect") { await self.detect(request) }
            self.metrics.recordDetect(ContinuousClock.now - start, status: response.status.code)
            return response
        }
        return router
    }

    struct ModelList: Encodable {
        let `default`: String
        let models: [ModelRegistry.Info]
    }

    /// The detection JSON of one image (DESIGN section 2), with the model that made it.
    struct DetectResponse: Encodable {
        let model: String
        let image: String
        let width: Int
        let height: Int
        let detections: [Detection]
    }

    /// `POST /v1/detect`: checks what is cheap to check first (readiness, query, model, content
    /// type, size), then decodes and detects on an inference thread.
    func detect(_ request: Request) async -> Response {
        do {
            guard !isDraining else { throw APIError.draining }
            guard registry.isReady else { throw APIError.notReady }
            let query = try DetectQuery(request.uri.queryParameters, maxImageSize: configuration.maxImageSize)
            let name = query.model ?? registry.defaultName
            guard let detector = registry.detector(named: name) else {
                throw APIError.notFound("unknown model '\(name.prefix(60))' (serving: \(registry.names.joined(separator: ", ")))")
            }
            let options = try query.options(for: detector)
            let contentType = request.headers[.contentType] ?? ""
            let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard ["image/jpeg", "image/png", "multipart/form-data"].contains(mediaType) else {
                throw APIError.unsupportedMediaType(String(contentType.prefix(60)))
            }
            // Refused now, before its body is read: the admission after reading it still decides.
            if queue.isFull { throw InferenceQueue.Failure.full }
            var body = try await BodyReader(limit: configuration.maxBodyBytes, stallTimeout: configuration.bodyTimeout).read(request)
            var imageName = "body"
            if mediaType == "multipart/form-data" {
                let form: MultipartForm
                do {
                    form = try MultipartForm(body: body, boundary: try MultipartForm.boundary(contentType: contentType))
                } catch let error as MultipartForm.ParseError {
                    throw APIError.badRequest(error.description)
                }
                guard let part = form.image else { throw APIError.badRequest("multipart body without an image part (name it 'image')") }
                body = Array(part.body)
                imageName = part.filename ?? part.name ?? imageName
            }
            guard !body.isEmpty else { throw APIError.emptyBody }
            let encoded = body, named = imageName
            let result = try await queue.run(timeout: configuration.timeout) { () -> Result<ImageDetections, Error> in
                Result {
                    let image = try RGBImage(decoding: encoded, name: named, maxPixels: detector.options.maxPixels)
                    return ImageDetections(image: named, width: image.width, height: image.height,
                                           detections: try detector.detect(image, with: options))
                }
            }
            let found = try result.get()
            return JSONBody.response(DetectResponse(model: name, image: found.image, width: found.width,
                                                    height: found.height, detections: found.detections))
        } catch let error as APIError {
            return error.response
        } catch InferenceQueue.Failure.full {
            return APIError.overloaded(retryAfter: 1).response
        } catch InferenceQueue.Failure.timedOut {
            metrics.timedOut()
            return APIError.timedOut(seconds: configuration.timeout).response
        } catch let error as VisionError {
            // The image itself is unusable: corrupt, truncated, not an image, or more pixels
            // than allowed (refused from its header, before any pixel memory exists).
            return APIError.unprocessable(error.description).response
        } catch let error as DetectorError {
            return APIError.badRequest(error.description).response
        } catch {
            logger.error("detect failed", metadata: ["error": "\(error)"])
            return APIError(status: .internalServerError, message: "internal error").response
        }
    }

    /// Counts a request in flight and its answer by route and status.
    func instrumented(_ route: String, _ body: () -> Response) -> Response {
        metrics.requestStarted()
        let response = body()
        metrics.requestFinished()
        metrics.record(route: route, status: response.status.code)
        return response
    }

    func instrumentedAsync(_ route: String, _ body: () async -> Response) async -> Response {
        metrics.requestStarted()
        let response = await body()
        metrics.requestFinished()
        metrics.record(route: route, status: response.status.code)
        if response.status.code >= 500 && response.status != .serviceUnavailable {
            logger.warning("request failed", metadata: ["route": "\(route)", "status": "\(response.status.code)"])
        } else {
            logger.debug("request", metadata: ["route": "\(route)", "status": "\(response.status.code)"])
        }
        return response
    }
}

/// Routes that do not exist, wrong methods and the framework's own refusals: JSON too.
struct JSONErrorMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: BasicRequestContext,
                next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let message = error.status == .notFound ? "no route \(request.method) \(request.uri.path)" : (error.body ?? error.status.reasonPhrase)
            return APIError(status: error.status, message: message).response
        }
    }
}
