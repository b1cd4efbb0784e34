# Static build: modernc.org/sqlite is pure Go, so CGO stays off.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/motesvakt ./backend/cmd/motesvakt

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/motesvakt /usr/local/bin/motesvakt
VOLUME ["/data"]
EXPOSE 8080/tcp 50000/udp
ENTRYPOINT ["/usr/local/bin/motesvakt"]
CMD ["serve", "--data", "/data", "--addr", "0.0.0.0:8080"]
