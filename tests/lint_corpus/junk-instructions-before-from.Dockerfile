RUN echo no stage yet
FROM
FROM --platform= AS
