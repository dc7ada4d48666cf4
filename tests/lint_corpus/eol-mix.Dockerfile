FROM debian:buster AS legacy
FROM ubuntu:18.04 AS old-ubuntu
FROM node:16-alpine3.15 AS web
FROM openjdk:8-jdk AS java
FROM eclipse-temurin:8u392-b08-jre-jammy AS jre
FROM postgres:14-bookworm AS db
FROM nginx:1.24.0-alpine AS proxy
FROM golang:1.21 AS go
FROM python:3.8-slim
USER 1000
