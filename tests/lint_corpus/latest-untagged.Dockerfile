FROM node AS frontend
WORKDIR /web
COPY web/ .
RUN npm ci && npm run build

FROM nginx:latest
COPY --from=frontend /web/dist /usr/share/nginx/html
